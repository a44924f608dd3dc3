/**
 * The fs-verity digest of a whole file, using every core of this one process.
 *
 * Hashing 4 KiB blocks one call at a time is bound by the per-call cost of node:crypto, not by
 * SHA-256 itself (a CPU profile of a 170 MB file: half the time in `crypto.hash`, called 43,000
 * times). The data blocks are independent, so the main thread and a few worker threads claim
 * 4 MiB pieces from a shared counter (whoever is free takes the next, so a busy core slows no one)
 * and write each block's hash into one shared array; the main thread then builds the small upper
 * levels of the tree. Files below PARALLEL_MIN are hashed in the main thread alone.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { withContext } from '../errors.js';
import { startWorker } from '../util/worker.js';
import { descriptorDigest, digestSize, hashDataBlock, rootFromBlockHashes, VERITY_BLOCK_SIZE, type VerityAlgorithm } from './fsverity.js';

/** Bytes claimed at a time; a multiple of the block size. */
export const PIECE = 4 * 1024 * 1024;
/** Below this a worker's start-up (~30 ms) costs more than it saves. */
export const PARALLEL_MIN = 32 * 1024 * 1024;

/** What a hashing thread needs: the file, where to put hashes, and the shared piece counter. */
export interface BlockHashJob {
  file: string;
  size: number;
  algorithm: VerityAlgorithm;
  /** Hashes of every data block, in order (digest size × block count). */
  hashes: SharedArrayBuffer;
  /** Int32 [0]: the next piece to claim. */
  counter: SharedArrayBuffer;
  /** Bytes per piece, a multiple of the block size. */
  piece: number;
}

/**
 * Claims pieces until none are left and hashes their blocks into `job.hashes`. Runs in the main
 * thread and in each worker (block-hash-worker.ts).
 */
export function hashClaimedPieces(job: BlockHashJob): void {
  const next = new Int32Array(job.counter);
  const hashes = new Uint8Array(job.hashes);
  const size = digestSize(job.algorithm);
  const pieceSize = job.piece;
  const pieces = Math.ceil(job.size / pieceSize);
  const buffer = Buffer.alloc(pieceSize);
  const fd = openSync(job.file, 'r');
  try {
    for (let piece = Atomics.add(next, 0, 1); piece < pieces; piece = Atomics.add(next, 0, 1)) {
      const start = piece * pieceSize;
      const length = Math.min(pieceSize, job.size - start);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buffer, got, length - got, start + got);
        if (n === 0) throw new Error(`the file shrank while being read (at byte ${start + got} of ${job.size})`);
        got += n;
      }
      // The last block of the file is zero-padded to a whole block.
      const padded = Math.ceil(length / VERITY_BLOCK_SIZE) * VERITY_BLOCK_SIZE;
      buffer.fill(0, length, padded);
      let out = (start / VERITY_BLOCK_SIZE) * size;
      for (let o = 0; o < padded; o += VERITY_BLOCK_SIZE, out += size) hashes.set(hashDataBlock(job.algorithm, buffer.subarray(o, o + VERITY_BLOCK_SIZE)), out);
    }
  } finally {
    closeSync(fd);
  }
}

export interface FileDigestOptions {
  /** Threads hashing at once, the main one included; default: the cores, at most 4. */
  threads?: number;
  /** Smallest file hashed by more than one thread; default PARALLEL_MIN. */
  parallelMin?: number;
  /** Bytes claimed at a time (a multiple of 4096); default PIECE. */
  piece?: number;
}

/** The fs-verity digest of `file`, as `fsverity digest` prints it after the algorithm. */
export async function fsverityDigestOfFile(file: string, algorithm: VerityAlgorithm = 'sha256', options: FileDigestOptions = {}): Promise<Buffer> {
  try {
    const fd = openSync(file, 'r');
    let size: number;
    try {
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
    const blocks = Math.ceil(size / VERITY_BLOCK_SIZE);
    const piece = options.piece ?? PIECE;
    if (piece <= 0 || piece % VERITY_BLOCK_SIZE !== 0) throw new RangeError(`piece ${piece}: a positive multiple of ${VERITY_BLOCK_SIZE}`);
    const job: BlockHashJob = { file, size, algorithm, hashes: new SharedArrayBuffer(blocks * digestSize(algorithm)), counter: new SharedArrayBuffer(4), piece };
    const threads = Math.max(1, Math.min(options.threads ?? Math.min(4, availableParallelism()), Math.ceil(size / piece)));
    const workers = size >= (options.parallelMin ?? PARALLEL_MIN) ? threads - 1 : 0;
    const done: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) done.push(runWorker(job));
    let failure: unknown;
    try {
      hashClaimedPieces(job);
    } catch (err) {
      failure = err;
      Atomics.store(new Int32Array(job.counter), 0, 0x7fffffff); // the workers stop at their next claim
    }
    // Wait for every worker, even after a failure here, so none is left running or unreported.
    for (const result of await Promise.allSettled(done)) if (result.status === 'rejected') failure ??= result.reason;
    if (failure !== undefined) throw failure;
    return descriptorDigest(algorithm, size, rootFromBlockHashes(algorithm, Buffer.from(job.hashes)));
  } catch (err) {
    throw withContext(file, err);
  }
}

function runWorker(job: BlockHashJob): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(new URL('./block-hash-worker.js', import.meta.url), { workerData: job });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`block hashing thread exited with ${code}`))));
  });
}
