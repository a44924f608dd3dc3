/**
 * Compression streams chosen by media type or by magic bytes: gzip (node:zlib to read; written in
 * parallel chunks, parallel-gzip.ts), zstd (zstd.ts: nothing compiled at install), xz
 * (lzma-native, whose npm package ships prebuilt binaries), and plain.
 */
import { PassThrough, Readable, type Duplex, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createRequire } from 'node:module';
import { OcitoolError } from '../errors.js';
import { ParallelGzip } from './parallel-gzip.js';
import { createZstdCompressor, createZstdDecompressor } from './zstd.js';

export { ParallelGzip, defaultGzipThreads } from './parallel-gzip.js';
export { zstdDecoder, type ZstdDecoder } from './zstd.js';

const require = createRequire(import.meta.url);
// A CommonJS native addon; loaded lazily so commands that never see xz skip the cost.
let lzmaModule: { createDecompressor(): Duplex; createCompressor(opts?: object): Duplex } | undefined;
const lzma = () => (lzmaModule ??= require('lzma-native'));

export type StreamCompression = 'none' | 'gzip' | 'zstd' | 'xz';

/** Bytes needed to recognise every format by its magic number. */
export const MAGIC_BYTES = 6;

export function detectCompression(head: Uint8Array): StreamCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 6 && Buffer.from(head.subarray(0, 6)).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

export function createDecompressor(kind: StreamCompression): Transform | Duplex {
  switch (kind) {
    case 'gzip':
      return createGunzip({ chunkSize: 512 * 1024 });
    case 'zstd':
      return createZstdDecompressor();
    case 'xz':
      return lzma().createDecompressor();
    case 'none':
      return new PassThrough();
  }
}

export interface CompressOptions {
  /** gzip 1-9 (default 6, what docker and skopeo use), zstd 1-19 (default 3). */
  level?: number;
  /** Chunks compressed at once (gzip, and zstd without Node's own); default: cores, at most 8. The output does not depend on it. */
  threads?: number;
}

export function createCompressor(kind: Exclude<StreamCompression, 'xz'>, options: CompressOptions = {}): Transform | Duplex {
  switch (kind) {
    case 'gzip':
      return new ParallelGzip({ level: options.level ?? 6, ...(options.threads ? { threads: options.threads } : {}) });
    case 'zstd':
      return createZstdCompressor(options.level ?? 3, options.threads);
    case 'none':
      return new PassThrough();
  }
}

/**
 * Reads the first bytes of `input` to find its compression, and returns a stream of the
 * decompressed bytes together with what was found. Nothing is read twice: the peeked bytes are
 * put back in front of the stream.
 */
export async function autoDecompress(input: Readable, what: string): Promise<{ kind: StreamCompression; stream: Readable }> {
  const head = await peek(input, MAGIC_BYTES);
  const kind = detectCompression(head);
  if (kind === 'none') return { kind, stream: input };
  const decompressor = createDecompressor(kind);
  input.on('error', (err) => decompressor.destroy(err));
  decompressor.on('error', (err) => {
    if (!(err instanceof OcitoolError)) err.message = `${what}: ${kind} data is corrupt: ${err.message}`;
  });
  return { kind, stream: input.pipe(decompressor) as unknown as Readable };
}

/** Reads up to n bytes from the front of a stream and unshifts them, so the stream is unchanged. */
export async function peek(input: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const chunk: Buffer | null = input.read();
    if (chunk === null) {
      if (input.readableEnded) break;
      const ended = await new Promise<boolean>((resolve, reject) => {
        const cleanup = () => {
          input.off('readable', onReadable);
          input.off('end', onEnd);
          input.off('error', onError);
        };
        const onReadable = () => { cleanup(); resolve(false); };
        const onEnd = () => { cleanup(); resolve(true); };
        const onError = (err: Error) => { cleanup(); reject(err); };
        input.once('readable', onReadable);
        input.once('end', onEnd);
        input.once('error', onError);
      });
      if (ended) break;
      continue;
    }
    chunks.push(chunk);
    have += chunk.length;
  }
  const all = Buffer.concat(chunks);
  if (all.length > 0) input.unshift(all);
  return all.subarray(0, n);
}
