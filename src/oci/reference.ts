/**
 * Image references with docker's grammar and normalization: `debian` is
 * `docker.io/library/debian:latest`, `localhost:5000/x/y:tag` keeps its registry.
 */
import { OcitoolError } from '../errors.js';
import { parseDigest, type Digest } from './digest.js';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';
/** Docker Hub's API host differs from the name users write. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const MAX_NAME_LENGTH = 255;

export interface Reference {
  /** Registry host as written by users, with port: docker.io, localhost:5000. */
  registry: string;
  /** Repository path: library/debian. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

export function parseReference(text: string): Reference {
  const fail = (why: string): never => {
    throw new OcitoolError('REFERENCE_INVALID', `invalid reference "${text}": ${why}`);
  };
  if (!text) fail('empty');
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch (err) {
      fail((err as Error).message);
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`bad tag "${tag}"`);
  }
  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    parts.shift();
    if (!DOMAIN.test(registry)) fail(`bad registry "${registry}"`);
  }
  if (registry === 'index.docker.io') registry = DEFAULT_REGISTRY;
  for (const part of parts) {
    if (!COMPONENT.test(part)) fail(`bad repository component "${part}" (lowercase letters, digits and separators only)`);
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > MAX_NAME_LENGTH) fail('repository name too long');
  if (!tag && !digest) tag = DEFAULT_TAG;
  return { registry, repository, tag, digest };
}

/** Full normalized name: docker.io/library/debian:latest, or …@sha256:… */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The name without tag or digest: docker.io/library/debian. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Short, familiar form docker prints: debian:latest, localhost:5000/x:y. */
export function familiarName(ref: Reference): string {
  let repo = ref.repository;
  if (ref.registry === DEFAULT_REGISTRY) {
    if (repo.startsWith('library/') && repo.split('/').length === 2) repo = repo.slice('library/'.length);
  } else {
    repo = `${ref.registry}/${repo}`;
  }
  return `${repo}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Normalizes a user-written image name to a full tagged name (no digest allowed). */
export function normalizeTagName(text: string): string {
  const ref = parseReference(text);
  if (ref.digest) throw new OcitoolError('REFERENCE_INVALID', `invalid image name "${text}": a tag name cannot hold a digest`);
  return formatReference(ref);
}
