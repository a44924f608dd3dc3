/**
 * A registry repository as an ImageSource: manifests and configs read under the JSON cap, blobs
 * streamed with resume, trying Docker Hub mirrors first and falling back to the registry.
 */
import type { Readable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import type { Descriptor } from '../oci/schemas.js';
import { MAX_JSON_BYTES } from '../oci/schemas.js';
import { isIndexType, isManifestType, MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { Reference } from '../oci/reference.js';
import type { ImageSource } from '../copy/transport.js';
import { contentRangeStart, openResumable } from './blob-stream.js';
import { RegistryClient, type ClientOptions } from './client.js';
import { endpointsFor, type EndpointOptions } from './endpoints.js';
import { discard, readSmall, type HttpResult } from './http.js';

export interface RegistrySourceOptions extends ClientOptions, EndpointOptions {}

/** A manifest's bytes as the registry sent them, with the headers that describe them. */
export interface FetchedManifest {
  raw: Buffer;
  /** Content-Type without parameters, or undefined. */
  contentType: string | undefined;
  /** The registry's Docker-Content-Digest header, unparsed, or undefined. */
  dockerContentDigest: string | undefined;
}

export class RegistrySource implements ImageSource {
  readonly description: string;
  readonly registry: string;
  readonly repository: string;
  /** Mirrors first, the registry last. */
  readonly clients: RegistryClient[];

  constructor(registry: string, repository: string, options: RegistrySourceOptions = {}) {
    this.registry = registry;
    this.repository = repository;
    this.clients = endpointsFor(registry, options).map((e) => new RegistryClient(e, repository, options));
    this.description = `registry ${registry} (repository ${repository})`;
  }

  /** Fetches a manifest or index by tag or digest, capped at MAX_JSON_BYTES. */
  async fetchManifest(reference: string, what: string, accept: readonly string[] = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    return this.tryEach(async (client) => {
      const result = await client.request(`manifests/${reference}`, { what, headers: { Accept: accept.join(', ') } });
      if (result.response.status !== 200) throw await client.failure(result, what);
      const raw = await readCapped(result, `${what} from ${client.description}`, client.timeouts.idleMs);
      const contentType = result.response.headers.get('content-type')?.split(';')[0]?.trim() || undefined;
      return { raw, contentType, dockerContentDigest: result.response.headers.get('docker-content-digest') ?? undefined };
    });
  }

  /** Raw bytes of a manifest, index or config (unverified; the caller checks the digest). */
  async readBlob(desc: Descriptor): Promise<Buffer> {
    if (isManifestType(desc.mediaType) || isIndexType(desc.mediaType)) {
      const accept = [desc.mediaType, ...MANIFEST_ACCEPT.filter((t) => t !== desc.mediaType)];
      return (await this.fetchManifest(desc.digest, `manifest ${desc.digest}`, accept)).raw;
    }
    const what = `blob ${desc.digest}`;
    return this.tryEach(async (client) => {
      const result = await client.request(`blobs/${desc.digest}`, { what });
      if (result.response.status !== 200) throw await client.failure(result, what);
      return readCapped(result, `${what} from ${client.description}`, client.timeouts.idleMs);
    });
  }

  /** A blob's bytes as a stream that resumes dropped connections (unverified). */
  async openBlob(desc: Descriptor): Promise<Readable> {
    const what = `blob ${desc.digest}`;
    // Pick the endpoint with the first request, then stay with it when resuming.
    const first = await this.tryEach(async (client) => {
      const result = await client.request(`blobs/${desc.digest}`, { what });
      if (result.response.status !== 200) throw await client.failure(result, what);
      return { client, result };
    });
    let pending: HttpResult | undefined = first.result;
    const client = first.client;
    return openResumable(async (offset) => {
      let result = pending;
      pending = undefined;
      if (!result) {
        result = await client.request(`blobs/${desc.digest}`, { what, headers: offset > 0 ? { Range: `bytes=${offset}-` } : {} });
        if (result.response.status === 206 && contentRangeStart(result.response.headers.get('content-range'), desc.size) !== offset) {
          // A range we did not ask for: start over rather than guess.
          discard(result.response);
          result = await client.request(`blobs/${desc.digest}`, { what });
        }
      }
      const status = result.response.status;
      if (status !== 200 && status !== 206) throw await client.failure(result, what);
      const body = result.response.body as unknown as AsyncIterable<Buffer> & { destroy(): void };
      if (!body) throw new OcitoolError('REGISTRY', `${what} from ${client.description}: empty response`);
      return { body, start: status === 206 ? offset : 0 };
    }, desc.size, `${what} from ${client.description}`, client.timeouts.idleMs);
  }

  /** Runs `op` against each endpoint in turn until one succeeds; a mirror's failure falls through. */
  private async tryEach<T>(op: (client: RegistryClient) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (const client of this.clients) {
      try {
        return await op(client);
      } catch (err) {
        lastError = err;
        if (!client.endpoint.mirror) throw err;
      }
    }
    throw lastError;
  }
}

/** Reads a manifest-sized body, failing with JSON_TOO_LARGE past MAX_JSON_BYTES. */
async function readCapped(result: HttpResult, what: string, idleMs: number): Promise<Buffer> {
  const length = Number(result.response.headers.get('content-length') ?? -1);
  if (length > MAX_JSON_BYTES) {
    discard(result.response);
    throw new OcitoolError('JSON_TOO_LARGE', `${what}: ${length} bytes is over the ${MAX_JSON_BYTES}-byte limit for JSON documents`);
  }
  let raw: Buffer;
  try {
    raw = await readSmall(result.response, MAX_JSON_BYTES, idleMs);
  } catch (err) {
    const why = err instanceof OcitoolError ? err.message : 'connection failed while reading';
    throw new OcitoolError('NETWORK', `${what}: ${why}`, { cause: err });
  }
  if (raw.length > MAX_JSON_BYTES) throw new OcitoolError('JSON_TOO_LARGE', `${what}: over the ${MAX_JSON_BYTES}-byte limit for JSON documents`);
  return raw;
}

/** A source for the registry and repository a reference names. */
export function openRegistrySource(ref: Reference, options: RegistrySourceOptions = {}): RegistrySource {
  return new RegistrySource(ref.registry, ref.repository, options);
}
