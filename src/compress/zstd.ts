/**
 * zstd streams without compiling anything at install.
 *
 * Decompression, best first: Node's own zstd (Node ≥ 22.15); else the `zstd` program, as
 * `tar --zstd` uses it (native speed, on another core, so a layer's decompression overlaps its
 * hashing and writing); else fzstd, pure JavaScript (about 7× slower than `zstd -dc`, but always
 * there). All three stream: memory stays bounded whatever the frame size.
 *
 * Compression: Node's own zstd where it exists; else @toondepauw/node-zstd, whose npm packages
 * ship prebuilt binaries (no install script). It has no streaming API, so the output is a series
 * of independent frames of ZSTD_FRAME bytes of input each, compressed in parallel on libuv's
 * thread pool. Concatenated frames are one valid zstd stream (RFC 8878 §3.1), read by zstd,
 * containerd and skopeo; output depends only on the input and level.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { Duplex, Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { defaultGzipThreads } from './parallel-gzip.js';
import { InOrder } from './in-order.js';

const require = createRequire(import.meta.url);

export type ZstdDecoder = 'node' | 'program' | 'js';

type NodeZstd = {
  createZstdDecompress(): Transform;
  createZstdCompress(options: { params: Record<number, number> }): Transform;
  constants: Record<string, number>;
};
const nodeZstd = (): NodeZstd | undefined => (typeof (zlib as Partial<NodeZstd>).createZstdDecompress === 'function' ? (zlib as unknown as NodeZstd) : undefined);

let programPath: string | null | undefined;
/** The `zstd` program on PATH, looked up once; null when there is none. */
export function zstdProgram(): string | null {
  if (programPath !== undefined) return programPath;
  programPath = null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'zstd');
    try {
      accessSync(candidate, fsConstants.X_OK);
      programPath = candidate;
      break;
    } catch {
      // Not in this PATH folder (or not executable): try the next; none found means fzstd.
    }
  }
  return programPath;
}

/** The decoder `createZstdDecompressor` uses on this machine. */
export function zstdDecoder(): ZstdDecoder {
  if (nodeZstd()) return 'node';
  return zstdProgram() ? 'program' : 'js';
}

export function createZstdDecompressor(decoder: ZstdDecoder = zstdDecoder()): Duplex {
  switch (decoder) {
    case 'node':
      return nodeZstd()!.createZstdDecompress();
    case 'program': {
      const program = zstdProgram();
      if (!program) throw new Error('zstd: the zstd program is not on PATH');
      return new ProgramStream(program, ['-d', '-c', '-q', '--no-progress']);
    }
    case 'js':
      return new FzstdDecompress();
  }
}

export function createZstdCompressor(level = 3, threads = defaultGzipThreads()): Duplex {
  const native = nodeZstd();
  if (native) return native.createZstdCompress({ params: { [native.constants.ZSTD_c_compressionLevel!]: level } });
  return new FramedZstdCompress(level, threads);
}

/**
 * A child process as a duplex stream: bytes written go to its stdin, its stdout is read. A
 * non-zero exit fails the stream with the program's own message; destroying the stream kills it.
 */
class ProgramStream extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private exited = false;

  constructor(program: string, args: string[]) {
    super({ readableHighWaterMark: 256 * 1024 });
    this.child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const { child } = this;
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (this.stderr.length < 4096) this.stderr += text;
    });
    child.stdout.on('data', (data: Buffer) => {
      if (!this.push(data)) child.stdout.pause();
    });
    // EPIPE means the program stopped reading (it exited, on bad data): its exit status and
    // message, reported below, say why. Any other write error is the stream's failure.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') this.destroy(err);
    });
    child.on('error', (err) => this.destroy(err));
    child.on('close', (code, signal) => {
      this.exited = true;
      if (code === 0) this.push(null);
      else this.destroy(new Error(this.stderr.trim().split('\n').pop() || `${program} exited with ${code ?? signal}`));
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(callback);
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.exited) this.child.kill();
    callback(error);
  }
}

/** fzstd's streaming decoder as a Transform. */
class FzstdDecompress extends Transform {
  private readonly decoder: { push(chunk: Uint8Array, final?: boolean): void };

  constructor() {
    super();
    const { Decompress } = require('fzstd') as typeof import('fzstd');
    this.decoder = new Decompress((data) => {
      if (data.length > 0) this.push(Buffer.from(data.buffer, data.byteOffset, data.length));
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/** Input bytes per zstd frame when compressing with @toondepauw/node-zstd. */
export const ZSTD_FRAME = 4 * 1024 * 1024;

type Encoder = { encode(data: Buffer): Promise<Buffer> };

/** Independent zstd frames, compressed `threads` at a time on libuv's pool, emitted in order. */
class FramedZstdCompress extends Transform {
  private readonly encoder: Encoder;
  private readonly threads: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly queue = new InOrder<Buffer>();
  private frames = 0;

  constructor(level: number, threads: number) {
    super();
    const { Encoder } = require('@toondepauw/node-zstd') as { Encoder: new (level: number) => Encoder };
    this.encoder = new Encoder(level);
    this.threads = Math.max(1, threads);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.dispatchFrames(ZSTD_FRAME).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    // Empty input still gets one (empty) frame: an empty file is not a zstd stream.
    this.dispatchFrames(this.frames === 0 ? 0 : 1)
      .then(async () => {
        while (this.queue.length > 0) this.push(await this.queue.next());
        callback();
      })
      .catch(callback);
  }

  private async dispatchFrames(atLeast: number): Promise<void> {
    while (this.pendingBytes >= atLeast) {
      if (atLeast === 0) atLeast = 1; // the empty frame, once
      const all = Buffer.concat(this.pending, this.pendingBytes);
      const n = Math.min(ZSTD_FRAME, all.length);
      this.pending = n < all.length ? [all.subarray(n)] : [];
      this.pendingBytes = all.length - n;
      this.queue.add(this.encoder.encode(all.subarray(0, n)));
      this.frames++;
      while (this.queue.length >= this.threads) this.push(await this.queue.next());
    }
  }
}
