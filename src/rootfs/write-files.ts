/**
 * The regular files of a checkout whose content is a store object: each object is hashed
 * (fs-verity) and compared with its id before its bytes reach the checkout. Runs in the main
 * thread and in worker threads (write-files-worker.ts) at once: every thread claims the next file
 * from a shared counter, so a busy core slows no one. Per file: one read of the whole object into
 * a reused buffer, its hash, one write; owner and mode are set only where creating the file did
 * not already give them, so a typical file costs open, read, close, open, write, futimes, close.
 */
import { closeSync, constants, copyFileSync, chmodSync, chownSync, fchmodSync, fchownSync, futimesSync, linkSync, openSync, readSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hash as oneShotHash } from 'node:crypto';
import { OcitoolError } from '../errors.js';
import { descriptorDigest, FsVerityHasher, rootFromBlockHashes, VERITY_BLOCK_SIZE } from '../verity/fsverity.js';

/** How object files land: a copy, a clone of the object's blocks, or the object's own inode. */
export type FileMethod = 'copy' | 'reflink' | 'hardlink';

export interface FileJob {
  /** Path in the checkout, relative to the root, as a byte string (latin1). */
  rel: string;
  /** The store object's file and fs-verity id. */
  src: string;
  id: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  sec: number;
  nsec: number;
}

export interface FilesWork {
  root: string;
  jobs: FileJob[];
  method: FileMethod;
  /** Set owners (running as root). */
  chown: boolean;
  euid: number;
  egid: number;
  umask: number;
  /** Int32 [0]: the next job to claim; set past the end to stop every thread. */
  counter: SharedArrayBuffer;
}

export interface FilesStats {
  bytes: number;
  linkedToStore: number;
  reflinked: number;
}

/** One thread's reused buffers: a whole small file, a padded last block, its block hashes. */
export interface Buffers {
  data: Buffer;
  block: Buffer;
  hashes: Buffer;
  descriptor: Buffer;
  /** The checkout's root and a slash, the prefix of every destination path. */
  root: Buffer;
}

export function newBuffers(root: string): Buffers {
  return { data: Buffer.allocUnsafeSlow(WHOLE_FILE_MAX), block: Buffer.allocUnsafeSlow(VERITY_BLOCK_SIZE), hashes: Buffer.allocUnsafeSlow((WHOLE_FILE_MAX / VERITY_BLOCK_SIZE) * 32), descriptor: newDescriptor(), root: Buffer.from(`${root}/`) };
}

/** Files up to this size are read whole and verified before one write; larger ones stream. */
export const WHOLE_FILE_MAX = 1024 * 1024;
const STOP = 0x3fffffff;

/**
 * fs-verity digest (hex) of bytes held in memory; `scratch` is a block-sized buffer for the padded
 * tail. Block hashes come back as latin1 strings written into one buffer: no Buffer (and no
 * malloc'd backing store) per 4 KiB block, which kept the young generation, and RSS, growing.
 */
/** SHA-256 as a 32-char latin1 string (node accepts every Buffer encoding; the types list fewer). */
const hashLatin1 = (data: Uint8Array): string => (oneShotHash as (algorithm: string, data: Uint8Array, encoding: string) => string)('sha256', data, 'latin1');

function verityHexOf(data: Buffer, b: Buffers): string {
  const { block: scratch, hashes } = b;
  if (data.length === 0) return descriptorDigest('sha256', 0, undefined).toString('hex');
  const blocks = Math.ceil(data.length / VERITY_BLOCK_SIZE);
  const whole = Math.floor(data.length / VERITY_BLOCK_SIZE);
  const view = new Uint8Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < whole; i++) hashes.write(hashLatin1(view.subarray(i * VERITY_BLOCK_SIZE, (i + 1) * VERITY_BLOCK_SIZE)), i * 32, 32, 'latin1');
  if (whole < blocks) {
    const tail = view.subarray(whole * VERITY_BLOCK_SIZE);
    scratch.set(tail);
    scratch.fill(0, tail.length);
    hashes.write(hashLatin1(scratch), whole * 32, 32, 'latin1');
  }
  return descriptorHex(b.descriptor, data.length, rootFromBlockHashes('sha256', hashes.subarray(0, blocks * 32))!);
}

/** The fs-verity descriptor's digest (see descriptorDigest in src/verity), in a reused buffer, as hex. */
function descriptorHex(descriptor: Buffer, size: number, root: Buffer): string {
  descriptor.writeUInt32LE(size % 0x100000000, 8);
  descriptor.writeUInt32LE(Math.floor(size / 0x100000000), 12);
  root.copy(descriptor, 16, 0, 32);
  return oneShotHash('sha256', descriptor, 'hex');
}

/** A descriptor with version 1, sha256, 4 KiB blocks, no salt; size and root filled per file. */
function newDescriptor(): Buffer {
  const d = Buffer.alloc(256);
  d[0] = 1;
  d[1] = 1;
  d[2] = Math.log2(VERITY_BLOCK_SIZE);
  return d;
}

function corrupt(job: FileJob, size: number, hex: string): OcitoolError {
  return new OcitoolError('STORE_CORRUPT', `file /${job.rel}: store object ${job.id} is corrupt (${size} bytes, fs-verity ${hex}); run ocitool fsck --repair and pull or import the image again`);
}

function openObject(job: FileJob): number {
  try {
    return openSync(job.src, 'r');
  } catch (err) {
    throw new OcitoolError('BLOB_MISSING', `file /${job.rel}: store object ${job.id} cannot be opened: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads exactly job.size bytes (a shorter object is corrupt; bytes past the size are never used). */
function readWhole(fd: number, job: FileJob, buf: Buffer): Buffer {
  let got = 0;
  while (got < job.size) {
    const n = readSync(fd, buf, got, job.size - got, got);
    if (n === 0) throw corrupt(job, got, 'of a short file');
    got += n;
  }
  return buf.subarray(0, job.size);
}

/** Hashes the whole object without writing anything (for clones and links). */
function verifyObject(job: FileJob, b: Buffers): void {
  const buf = b.data;
  const fd = openObject(job);
  try {
    if (job.size <= buf.length) {
      const hex = verityHexOf(readWhole(fd, job, buf), b);
      if (hex !== job.id) throw corrupt(job, job.size, hex);
      return;
    }
    const hasher = new FsVerityHasher();
    let n: number;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) hasher.update(buf.subarray(0, n));
    if (hasher.size !== job.size || hasher.hex() !== job.id) throw corrupt(job, hasher.size, hasher.hex());
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

function time(job: FileJob): number {
  return job.sec + job.nsec / 1e9;
}

/** Owner, then mode (chown clears setuid/setgid), then mtime, on an open file. */
function finishOpen(fd: number, job: FileJob, work: FilesWork): void {
  const chown = work.chown && (job.uid !== work.euid || job.gid !== work.egid);
  if (chown) fchownSync(fd, job.uid, job.gid);
  if (chown || job.mode & 0o7000 || job.mode & work.umask) fchmodSync(fd, job.mode);
  futimesSync(fd, time(job), time(job));
}

function copyFile(job: FileJob, dst: Buffer, work: FilesWork, b: Buffers): void {
  const buf = b.data;
  const input = openObject(job);
  let out: number | undefined;
  try {
    if (job.size <= buf.length) {
      // Small enough to hold: verified before a byte is written.
      const data = readWhole(input, job, buf);
      const hex = verityHexOf(data, b);
      if (hex !== job.id) throw corrupt(job, job.size, hex);
      out = openSync(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, job.mode & 0o777);
      writeAll(out, data);
    } else {
      // Streamed: hashed as it is written; a mismatch removes the file before the error.
      out = openSync(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, job.mode & 0o777);
      const hasher = new FsVerityHasher();
      let n: number;
      while ((n = readSync(input, buf, 0, buf.length, null)) > 0) {
        hasher.update(buf.subarray(0, n));
        writeAll(out, buf.subarray(0, n));
      }
      if (hasher.size !== job.size || hasher.hex() !== job.id) {
        closeSync(out);
        out = undefined;
        unlinkSync(dst);
        throw corrupt(job, hasher.size, hasher.hex());
      }
    }
    finishOpen(out, job, work);
  } finally {
    closeSync(input);
    if (out !== undefined) closeSync(out);
  }
}

/** Hardlink rule (docs/checkout.md): the object's inode is shared when its permission bits and owner are the file's. */
function canLink(job: FileJob): boolean {
  const st = statSync(job.src);
  return (st.mode & 0o7777) === (job.mode & 0o7777) && st.uid === job.uid && st.gid === job.gid;
}

/** Links the verified object; false when it has as many links as its filesystem allows (then the file is copied). */
function linkVerified(job: FileJob, dst: Buffer, b: Buffers): boolean {
  verifyObject(job, b);
  try {
    linkSync(job.src, dst);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EMLINK') return false;
    throw err;
  }
}

/** Writes one file by `work.method`, counting it in `stats`. */
export function writeObjectFile(job: FileJob, work: FilesWork, b: Buffers, stats: FilesStats): void {
  const dst = Buffer.concat([b.root, Buffer.from(job.rel, 'latin1')]);
  if (work.method === 'hardlink' && canLink(job) && linkVerified(job, dst, b)) {
    stats.linkedToStore++;
  } else if (work.method === 'reflink') {
    // A clone shares blocks with the object: hash the object first so nothing unverified lands.
    verifyObject(job, b);
    try {
      copyFileSync(job.src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
    } catch (err) {
      throw new OcitoolError('IO', `file /${job.rel}: --mode reflink: this filesystem cannot clone files (${(err as NodeJS.ErrnoException).code}); use --mode copy or auto`, { cause: err });
    }
    if (work.chown && (job.uid !== work.euid || job.gid !== work.egid)) chownSync(dst, job.uid, job.gid);
    chmodSync(dst, job.mode);
    utimesSync(dst, time(job), time(job));
    stats.reflinked++;
  } else {
    copyFile(job, dst, work, b);
  }
  stats.bytes += job.size;
}

/** Claims jobs until none are left; throws the first failure after telling the other threads to stop. */
export function writeClaimedFiles(work: FilesWork): FilesStats {
  const next = new Int32Array(work.counter);
  const stats: FilesStats = { bytes: 0, linkedToStore: 0, reflinked: 0 };
  const b = newBuffers(work.root);
  try {
    for (let i = Atomics.add(next, 0, 1); i < work.jobs.length; i = Atomics.add(next, 0, 1)) writeObjectFile(work.jobs[i]!, work, b, stats);
  } catch (err) {
    Atomics.store(next, 0, STOP);
    throw err;
  }
  return stats;
}

/** Stops every thread at its next claim. */
export function stopClaims(counter: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(counter), 0, STOP);
}

