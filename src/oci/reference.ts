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
/** docker/distribution: a repository path has at most 255 characters. */
const MAX_NAME_LENGTH = 255;
/** DNS (RFC 1035): a host name has at most 253 characters, each label at most 63. */
const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
/** Longer input is not a reference; refused before any regular expression runs over it. */
const MAX_REFERENCE_LENGTH = 1024;

/** The text of a reference as shown in a message: quoted, control characters escaped, long ones cut. */
export function quoteReference(text: string): string {
  const shown = text.length > 100 ? `${text.slice(0, 60)}…${text.slice(-20)}` : text;
  const escaped = JSON.stringify(shown).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > 100 ? `${escaped} (${text.length} characters)` : escaped;
}

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
    throw new OcitoolError('REFERENCE_INVALID', `invalid reference ${quoteReference(text)}: ${why}`);
  };
  if (!text) fail('empty');
  // Control characters (a newline, a NUL) are never part of a reference; say so before anything else.
  const control = /[\u0000-\u001f\u007f]/.exec(text);
  if (control) fail(`it contains the control character ${JSON.stringify(control[0])}`);
  if (text.length > MAX_REFERENCE_LENGTH) fail(`longer than ${MAX_REFERENCE_LENGTH} characters`);
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
    if (!TAG.test(tag)) fail(`bad tag ${quoteReference(tag)} (letters, digits, _ . -, at most 128 characters)`);
  }
  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    parts.shift();
    checkHost(registry, fail);
  }
  if (registry === 'index.docker.io') registry = DEFAULT_REGISTRY;
  for (const part of parts) {
    if (!COMPONENT.test(part)) fail(`bad repository component ${quoteReference(part)} (lowercase letters, digits and separators only)`);
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > MAX_NAME_LENGTH) fail(`repository name of ${repository.length} characters (at most ${MAX_NAME_LENGTH})`);
  if (!tag && !digest) tag = DEFAULT_TAG;
  return { registry, repository, tag, digest };
}

/** A registry host[:port]: DNS names within DNS limits, or a bracketed IPv6 address; a port up to 65535. */
function checkHost(registry: string, fail: (why: string) => never): void {
  if (!DOMAIN.test(registry)) fail(`bad registry ${quoteReference(registry)}`);
  const port = /:([0-9]+)$/.exec(registry);
  const host = port ? registry.slice(0, -port[0].length) : registry;
  if (port && Number(port[1]) > 65535) fail(`registry port ${port[1]} is over 65535`);
  if (host.startsWith('[')) return;
  if (host.length > MAX_HOST_LENGTH) fail(`registry host name of ${host.length} characters (at most ${MAX_HOST_LENGTH})`);
  const label = host.split('.').find((l) => l.length > MAX_LABEL_LENGTH);
  if (label) fail(`registry host name has a label of ${label.length} characters (at most ${MAX_LABEL_LENGTH})`);
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
  if (ref.digest) throw new OcitoolError('REFERENCE_INVALID', `invalid image name ${quoteReference(text)}: a tag name cannot hold a digest`);
  return formatReference(ref);
}
