/**
 * Blob uploads to one repository (distribution spec, "pushing blobs"): an upload session from
 * `POST …/blobs/uploads/` (or a cross-repository mount), then either one `PUT ?digest=` with the
 * whole body (small blobs) or `PATCH` chunks with `Content-Range`, each checked against the
 * `Range` the registry answers, closed by an empty `PUT ?digest=`. The registry's
 * `Docker-Content-Digest` and `Location` on the final answer must name the blob.
 *
 * A dropped connection (or a 5xx) part way resumes: the session's status says how many bytes the
 * registry holds (or that the session is gone: a new one starts at 0), the blob is opened again
 * from its source through a new verifier, the bytes the registry holds are read and hashed but
 * not sent, and the upload goes on. Every byte sent has passed a verifier, and the last bytes of
 * a blob are only sent once its verifier has confirmed size and digest, so a corrupt source never
 * completes an upload.
 */
import { Readable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import type { Descriptor } from '../oci/schemas.js';
import { VerifyingStream } from '../oci/verify.js';
import type { RegistryClient } from './client.js';
import { discard, type HttpResult } from './http.js';
import { RETRY_STATUSES } from './retry.js';

/** Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
/** Dropped connections survived per blob before the push fails. */
export const MAX_UPLOAD_RESUMES = 5;

export interface UploadOptions {
  chunkSize?: number;
  /** Opens the blob again from its first byte (unverified), for a resume; without it a drop fails. */
  reopen?: (desc: Descriptor) => Promise<Readable>;
  /** An upload session already started (a mount the registry answered 202). */
  session?: URL;
}

/** What the counters of one push saw, for tests and the bench. */
export interface UploadStats {
  resumes: number;
}

/**
 * Reads a verified blob stream in pieces of exact sizes. The piece that ends the blob is held
 * back until the stream has ended cleanly, that is until the verifier has checked size and digest.
 */
class BlobCursor {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer | undefined;
  /** The first error the stream failed with (a verification error is the real cause of a failed request). */
  failure: unknown;
  position = 0;

  constructor(private readonly stream: Readable, private readonly size: number) {
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.pending) {
      const chunk = this.pending;
      this.pending = undefined;
      return chunk;
    }
    try {
      const step = await this.iterator.next();
      return step.done ? undefined : step.value;
    } catch (err) {
      this.failure ??= err;
      throw err;
    }
  }

  /** Reads and drops `n` bytes (they passed the verifier; the registry already has them). */
  async skip(n: number): Promise<void> {
    for await (const _ of this.piece(n)) {
      // Only the hashing matters.
    }
  }

  /** The next `n` bytes as a body. */
  take(n: number): Readable {
    return Readable.from(this.piece(n), { objectMode: false });
  }

  private async *piece(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const chunk = await this.next();
      if (!chunk) return; // Short: the verifier has already failed the stream, or fails it now.
      let out = chunk;
      if (chunk.length > left) {
        this.pending = chunk.subarray(left);
        out = chunk.subarray(0, left);
      }
      left -= out.length;
      this.position += out.length;
      if (this.position >= this.size) {
        // The last bytes: only once the stream ended, i.e. the verifier passed them.
        const after = await this.next();
        if (after) throw new OcitoolError('SIZE_MISMATCH', `blob is longer than its ${this.size} bytes`);
      }
      yield out;
    }
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/** Where an upload session is and how many bytes the registry holds of it. */
interface Session {
  url: URL;
  offset: number;
}

/**
 * Uploads one blob from `data` (a verified stream of it). `what` names it for errors. Returns
 * how many resumes it took.
 */
export async function uploadBlob(client: RegistryClient, desc: Descriptor, data: Readable, options: UploadOptions = {}): Promise<UploadStats> {
  const what = `blob ${desc.digest}`;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  let session: Session = { url: options.session ?? (await startUpload(client, what)), offset: 0 };
  let cursor = new BlobCursor(data, desc.size);
  for (let resumes = 0; ; resumes++) {
    try {
      if (session.offset === 0 && desc.size <= chunkSize && resumes === 0) {
        await finish(client, desc, session.url, cursor.take(desc.size), desc.size);
      } else {
        while (session.offset < desc.size) {
          const n = Math.min(chunkSize, desc.size - session.offset);
          session = await patchChunk(client, what, session, cursor.take(n), n);
        }
        await finish(client, desc, session.url, Buffer.alloc(0), 0);
      }
      return { resumes };
    } catch (err) {
      // A failed source is the cause, whatever the request it broke said.
      if (cursor.failure) throw cursor.failure;
      if (!resumable(err) || !options.reopen || resumes >= MAX_UPLOAD_RESUMES) {
        cursor.destroy();
        if (resumable(err) && resumes >= MAX_UPLOAD_RESUMES) {
          throw new OcitoolError('NETWORK', `${(err as Error).message} (gave up after ${resumes + 1} tries)`, { cause: err });
        }
        throw err;
      }
      cursor.destroy();
      session = (await uploadStatus(client, what, session.url)) ?? { url: await startUpload(client, what), offset: 0 };
      const input = await options.reopen(desc);
      const verifier = new VerifyingStream(desc, `${what} (read again to resume its upload)`);
      input.on('error', (e) => verifier.destroy(e));
      input.pipe(verifier);
      cursor = new BlobCursor(verifier, desc.size);
      await cursor.skip(session.offset);
    }
  }
}

/** Connection failures, retryable statuses, and a Range that disagrees with ours: worth resuming. */
function resumable(err: unknown): boolean {
  if (!(err instanceof OcitoolError)) return false;
  if (err.code === 'NETWORK' || err.details.resume === true) return true;
  return typeof err.details.status === 'number' && RETRY_STATUSES.has(err.details.status);
}

/** `POST …/blobs/uploads/`: a new session's URL. */
export async function startUpload(client: RegistryClient, what: string): Promise<URL> {
  const result = await client.request('blobs/uploads/', { method: 'POST', what: `${what} upload`, direction: 'to', body: Buffer.alloc(0), headers: { 'Content-Length': '0' } });
  if (result.response.status !== 202) throw await client.failure(result, `${what} upload`, 'to');
  discard(result.response);
  return sessionUrl(client, result, what);
}

/**
 * `POST …/blobs/uploads/?mount=DIGEST&from=REPO`: true when the registry mounted the blob (201),
 * else the session it opened instead (202), for an ordinary upload.
 */
export async function mountBlob(client: RegistryClient, desc: Descriptor, from: string): Promise<true | URL> {
  const what = `blob ${desc.digest} (mount from ${from})`;
  const path = `blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`;
  const result = await client.request(path, { method: 'POST', what, direction: 'to', body: Buffer.alloc(0), headers: { 'Content-Length': '0' } });
  if (result.response.status === 201) {
    discard(result.response);
    checkDigestHeader(result, desc, what, client);
    return true;
  }
  if (result.response.status !== 202) throw await client.failure(result, what, 'to');
  discard(result.response);
  return sessionUrl(client, result, what);
}

function sessionUrl(client: RegistryClient, result: HttpResult, what: string): URL {
  const location = result.response.headers.get('location');
  if (!location) throw new OcitoolError('REGISTRY', `${what} to ${client.description}: upload session answered without a Location`);
  try {
    return new URL(location, result.url);
  } catch {
    throw new OcitoolError('REGISTRY', `${what} to ${client.description}: upload session answered with an invalid Location`);
  }
}

/** One PATCH chunk at `session.offset`; the registry's Range must end where the chunk ends. */
async function patchChunk(client: RegistryClient, what: string, session: Session, body: Readable, n: number): Promise<Session> {
  const end = session.offset + n - 1;
  const result = await client.request(session.url, {
    method: 'PATCH',
    what: `${what} chunk at byte ${session.offset}`,
    direction: 'to',
    body,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n), 'Content-Range': `${session.offset}-${end}` },
  });
  const status = result.response.status;
  if (status !== 202 && status !== 204) throw await client.failure(result, `${what} chunk at byte ${session.offset}`, 'to');
  discard(result.response);
  const held = rangeEnd(result.response.headers.get('range'));
  if (held !== undefined && held !== end + 1) {
    throw new OcitoolError('REGISTRY', `${what} to ${client.description}: registry holds ${held} bytes after a chunk ending at byte ${end + 1}`, { details: { resume: true } });
  }
  return { url: sessionUrl(client, result, what), offset: end + 1 };
}

/** `Range: 0-END` as a byte count (END + 1); "0-0" is read as nothing held. */
function rangeEnd(header: string | null): number | undefined {
  const m = header ? /^(?:bytes=)?0-(\d+)$/.exec(header.trim()) : null;
  if (!m) return undefined;
  const end = Number(m[1]);
  return end === 0 ? 0 : end + 1;
}

/** `GET` on a session: where to go on, or undefined when the registry dropped it. */
async function uploadStatus(client: RegistryClient, what: string, url: URL): Promise<Session | undefined> {
  const result = await client.request(url, { what: `${what} upload status`, direction: 'to' });
  const status = result.response.status;
  if (status === 404 || status === 400 || status === 416) {
    // The registry cancelled the session (distribution does when a dropped request left it at another offset).
    discard(result.response);
    return undefined;
  }
  if (status !== 204 && status !== 200) throw await client.failure(result, `${what} upload status`, 'to');
  discard(result.response);
  return { url: result.response.headers.get('location') ? sessionUrl(client, result, what) : url, offset: rangeEnd(result.response.headers.get('range')) ?? 0 };
}

/** The closing `PUT ?digest=` (with the whole body, or empty after chunks), its answer checked. */
async function finish(client: RegistryClient, desc: Descriptor, session: URL, body: Readable | Buffer, n: number): Promise<void> {
  const what = `blob ${desc.digest}`;
  const url = new URL(session);
  url.searchParams.set('digest', desc.digest);
  const result = await client.request(url, { method: 'PUT', what, direction: 'to', body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) } });
  if (result.response.status !== 201) throw await client.failure(result, what, 'to');
  discard(result.response);
  checkDigestHeader(result, desc, what, client);
  const location = result.response.headers.get('location');
  if (location !== null) {
    let path: string;
    try {
      path = new URL(location, result.url).pathname;
    } catch {
      throw new OcitoolError('REGISTRY', `${what} to ${client.description}: invalid Location after the upload`);
    }
    if (!path.endsWith(`/blobs/${desc.digest}`)) {
      throw new OcitoolError('DIGEST_MISMATCH', `${what} to ${client.description}: registry stored the upload at ${path}, not under the blob's digest`);
    }
  }
}

function checkDigestHeader(result: HttpResult, desc: Descriptor, what: string, client: RegistryClient): void {
  const answered = result.response.headers.get('docker-content-digest');
  if (answered !== null && answered.trim() !== desc.digest) {
    throw new OcitoolError('DIGEST_MISMATCH', `${what} to ${client.description}: registry answered digest ${answered.trim()}`);
  }
}
