/**
 * Writes a merged tree (merge.ts) to a folder: `checkout`. Safe by construction: the folder is
 * new (a `.partial` sibling renamed into place at the end), every path is created once, parents
 * before children, and the tree only has children under folders, so no path we create ever goes
 * through a symlink: nothing on disk is followed. File contents come from store objects, each
 * checked against its fs-verity digest before a byte of it reaches the checkout.
 *
 * Order: folders, symlinks, small (inline) files and special files in one pass of the main
 * thread; then the object files, by the main thread and worker threads at once (write-files.ts);
 * then hardlinks, extended attributes, and folder metadata deepest first.
 *
 * Node has no mknod(2) or setxattr(2): device nodes and FIFOs are made with coreutils `mknod`,
 * extended attributes with attr's `setfattr` when it is installed; what cannot be made is
 * counted and named in the summary, never dropped silently.
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, unlinkSync, writeSync, chmodSync, chownSync, utimesSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/worker.js';
import { OcitoolError, withLaterFailure, type ErrorCode } from '../errors.js';
import { isEnoent } from '../util/fs.js';
import { walkTree, type Inode, type MergedTree } from './merge.js';
import { newBuffers, stopClaims, writeClaimedFiles, writeObjectFile, type FileJob, type FileMethod, type FilesStats, type FilesWork } from './write-files.js';

export type CheckoutMode = 'auto' | 'reflink' | 'copy' | 'hardlink';

export interface WriteTreeOptions {
  mode: CheckoutMode;
  /** Path of a store object by id. */
  objectPath(id: string): string;
  /** Called once per message worth telling the user (owners not kept, …). */
  onNote?(text: string): void;
  /** Threads writing object files, the main one included; default: the cores, at most 4 (1 for small trees). */
  threads?: number;
}

export interface WriteTreeSummary {
  files: number;
  directories: number;
  symlinks: number;
  /** Extra paths of hardlink groups. */
  hardlinks: number;
  bytes: number;
  /** Files that share their inode with the store object (--mode hardlink). */
  linkedToStore: number;
  reflinked: number;
  skipped: { devices: number; fifos: number; xattrs: string[]; owners: boolean };
}

/** Below this many object files a worker's start-up (~30 ms) costs more than it saves. */
const PARALLEL_MIN_FILES = 256;

/** Byte-string name (latin1, one char per byte) to a path Buffer. */
function fsPath(root: string, rel: string): Buffer {
  return rel === '' ? Buffer.from(root) : Buffer.concat([Buffer.from(root), Buffer.from('/'), Buffer.from(rel, 'latin1')]);
}

export async function writeTree(tree: MergedTree, dir: string, options: WriteTreeOptions): Promise<WriteTreeSummary> {
  const summary: WriteTreeSummary = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, bytes: 0, linkedToStore: 0, reflinked: 0, skipped: { devices: 0, fifos: 0, xattrs: [], owners: false } };
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) summary.skipped.owners = true;
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.() ?? 0;
  const umask = currentUmask();
  const written = new Map<Inode, Buffer>(); // first path of each hardlink group
  const folders: Array<{ p: Buffer; inode: Inode }> = [];
  const jobs: FileJob[] = [];
  const links: Array<{ first: Inode; p: Buffer }> = [];
  const withXattrs: Array<{ p: Buffer; rel: string; inode: Inode }> = [];
  const specials: Array<{ p: Buffer; inode: Inode }> = [];
  const later: Array<{ p: Buffer; rel: string; inode: Inode }> = [];
  // Started first so their start-up overlaps the folders being made; told to stop if that fails.
  const pool = startWriters(options.threads ?? defaultThreads(tree));
  let handedOver = false;
  let specialsMade: Promise<boolean[]> | undefined;
  let failure: unknown;
  try {
    const needsOwner = (inode: Inode) => isRoot && (inode.uid !== euid || inode.gid !== egid);
    for (const { path: rel, node } of walkTree(tree)) {
      const p = fsPath(dir, rel);
      const inode = node.inode;
      if (inode.type !== 'directory' && written.has(inode)) {
        links.push({ first: inode, p });
        continue;
      }
      switch (inode.type) {
        case 'directory':
          if (rel !== '') mkdirSync(p, 0o700);
          folders.push({ p, inode });
          summary.directories++;
          break;
        case 'file': {
          const content = inode.content;
          summary.files++;
          if (content?.kind === 'object') {
            jobs.push({ rel, src: options.objectPath(content.id), id: content.id, size: inode.size, mode: inode.mode & 0o7777, uid: inode.uid, gid: inode.gid, sec: inode.mtime.sec, nsec: inode.mtime.nsec });
            break;
          }
          later.push({ p, rel, inode }); // after the file jobs are handed to the workers
          break;
        }
        case 'symlink':
          later.push({ p, rel, inode });
          summary.symlinks++;
          break;
        case 'char':
        case 'block':
        case 'fifo': {
          if (!isRoot && inode.type !== 'fifo') {
            summary.skipped.devices++;
            continue;
          }
          specials.push({ p, inode }); // made by one process while the files are written, not one per node
          break;
        }
      }
      // Set once the content is written: a write or chown removes security.capability.
      if (inode.xattrs.size > 0) withXattrs.push({ p, rel, inode });
      if (inode.type !== 'directory') written.set(inode, p);
    }
    const method = await chooseMethod(options, jobs, dir, summary);
    const work: FilesWork = { root: dir, jobs: method.rest, method: method.method, chown: isRoot, euid, egid, umask, counter: new SharedArrayBuffer(4) };
    handedOver = true;
    const running = pool.run(work, () => {
      // While the workers start on the files: small files and symlinks, then this thread joins them.
      for (const { p, rel, inode } of later) {
        if (inode.type === 'symlink') writeSymlink(p, inode, needsOwner(inode));
        else summary.bytes += writeInlineFile(p, rel, inode, needsOwner(inode), umask);
      }
    });
    specialsMade = makeSpecialFiles(specials);
    const stats = await running;
    summary.bytes += stats.bytes;
    summary.linkedToStore += stats.linkedToStore;
    summary.reflinked += stats.reflinked;
  } catch (err) {
    failure = err;
  }
  // Workers and the mknod script are waited for even after a failure, so nothing still writes
  // while the partial folder is removed; their own failures are said with the first one.
  const laterFailures: Array<[unknown, string]> = [];
  if (!handedOver) for (const err of await pool.cancel()) laterFailures.push([err, 'a file writing thread']);
  if (specialsMade) {
    try {
      await specialsMade;
    } catch (err) {
      laterFailures.push([err, 'making device nodes and FIFOs']);
    }
  }
  for (const [err, during] of laterFailures) failure = failure === undefined ? err : withLaterFailure(failure, err, during);
  if (failure !== undefined) throw failure;
  const missing = new Set<Inode>();
  const made = await specialsMade!;
  specials.forEach(({ p, inode }, i) => {
    if (!made[i]) {
      if (inode.type === 'fifo') summary.skipped.fifos++;
      else summary.skipped.devices++;
      missing.add(inode);
      return;
    }
    if (isRoot && (inode.uid !== euid || inode.gid !== egid)) {
      chownSync(p, inode.uid, inode.gid);
      chmodSync(p, inode.mode & 0o7777);
    }
    utimesSync(p, toTime(inode.mtime), toTime(inode.mtime));
  });
  for (const { first, p } of links) {
    if (missing.has(first)) continue; // counted above: the node itself could not be made
    linkSync(written.get(first)!, p);
    summary.hardlinks++;
  }
  let hasSetfattr: boolean | undefined;
  for (const { p, rel, inode } of withXattrs) {
    hasSetfattr ??= spawnSync('setfattr', ['--version'], { stdio: 'ignore' }).status === 0;
    for (const [name, value] of inode.xattrs) {
      const ok = hasSetfattr && spawnSync('setfattr', ['-h', '-n', name, '-v', `0x${value.toString('hex')}`, p.toString('latin1')], { stdio: 'ignore' }).status === 0;
      if (!ok) summary.skipped.xattrs.push(`${rel || '/'}: ${name}`);
    }
  }
  // Folders last, deepest first: writing a child changes its folder's mtime, and a read-only
  // folder mode would stop the children being written.
  for (let i = folders.length - 1; i >= 0; i--) {
    const { p, inode } = folders[i]!;
    if (isRoot && (inode.uid !== euid || inode.gid !== egid)) chownSync(p, inode.uid, inode.gid);
    chmodSync(p, inode.mode & 0o7777);
    utimesSync(p, toTime(inode.mtime), toTime(inode.mtime));
  }
  return summary;
}

function writeSymlink(p: Buffer, inode: Inode, chown: boolean): void {
  symlinkSync(Buffer.from(inode.linkname ?? '', 'latin1'), p);
  if (chown) lchownSync(p, inode.uid, inode.gid);
  lutimesSync(p, toTime(inode.mtime), toTime(inode.mtime));
}

/** A file of 64 bytes or less, its bytes inline in the split stream; returns its size. */
function writeInlineFile(p: Buffer, rel: string, inode: Inode, chown: boolean, umask: number): number {
  const content = inode.content;
  const data = content?.kind === 'inline' ? content.data : Buffer.alloc(0);
  if (data.length !== inode.size) throw new OcitoolError('STORE_CORRUPT', `file /${rel}: inline content has ${data.length} bytes, the tar says ${inode.size}`);
  const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, inode.mode & 0o777);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    if (chown) fchownSync(fd, inode.uid, inode.gid);
    if (chown || inode.mode & 0o7000 || inode.mode & umask) fchmodSync(fd, inode.mode & 0o7777);
    futimesSync(fd, toTime(inode.mtime), toTime(inode.mtime));
  } finally {
    closeSync(fd);
  }
  return inode.size;
}

function toTime(t: { sec: number; nsec: number }): number {
  return t.sec + t.nsec / 1e9;
}

/** Script for `sh -c`: makes each node given as five arguments (path, mode, type, major, minor); prints 0 or 1 per node. */
const MKNOD_SCRIPT = 'while [ $# -gt 0 ]; do if [ "$3" = p ]; then mknod -m "$2" "$1" p; else mknod -m "$2" "$1" "$3" "$4" "$5"; fi 2>/dev/null && echo 0 || echo 1; shift 5; done';

/**
 * Device nodes and FIFOs with coreutils `mknod` (node has no mknod(2)), a few hundred per
 * process, while the threads write files; resolves to whether each was made.
 */
async function makeSpecialFiles(specials: Array<{ p: Buffer; inode: Inode }>): Promise<boolean[]> {
  const made: boolean[] = [];
  for (let start = 0; start < specials.length; start += 200) {
    const args: string[] = [];
    for (const { p, inode } of specials.slice(start, start + 200)) {
      args.push(p.toString('latin1'), (inode.mode & 0o7777).toString(8), inode.type === 'fifo' ? 'p' : inode.type === 'char' ? 'c' : 'b', String(inode.devMajor ?? 0), String(inode.devMinor ?? 0));
    }
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn('sh', ['-c', MKNOD_SCRIPT, 'sh', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.once('error', reject);
      child.once('close', () => resolve(out));
    });
    const lines = stdout.split('\n');
    for (let i = 0; i < args.length / 5; i++) made.push(lines[i] === '0');
  }
  return made;
}

function defaultThreads(tree: MergedTree): number {
  let files = 0;
  for (const { node } of walkTree(tree)) if (node.inode.content?.kind === 'object' && ++files >= PARALLEL_MIN_FILES) return Math.min(4, availableParallelism());
  return 1;
}

function currentUmask(): number {
  // Read without changing it (process.umask() alone is deprecated for its set-and-restore race in
  // other libraries; here it is only read).
  return process.umask();
}

/**
 * `auto` clones the first (largest) file to learn whether the filesystem can clone; the rest of
 * the files are then cloned or copied by every thread alike.
 */
async function chooseMethod(options: WriteTreeOptions, jobs: FileJob[], dir: string, summary: WriteTreeSummary): Promise<{ method: FileMethod; rest: FileJob[] }> {
  jobs.sort((a, b) => b.size - a.size); // largest first: the threads end together
  if (options.mode !== 'auto') return { method: options.mode, rest: jobs };
  if (jobs.length === 0) return { method: 'copy', rest: jobs };
  const probe: FilesWork = { root: dir, jobs: [], method: 'reflink', chown: false, euid: 0, egid: 0, umask: 0, counter: new SharedArrayBuffer(4) };
  const stats: FilesStats = { bytes: 0, linkedToStore: 0, reflinked: 0 };
  const first = jobs[0]!;
  const work = { ...probe, chown: process.getuid?.() === 0, euid: process.geteuid?.() ?? 0, egid: process.getegid?.() ?? 0, umask: currentUmask() };
  try {
    writeObjectFile(first, work, newBuffers(dir), stats);
  } catch (err) {
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (!(err instanceof OcitoolError && err.code === 'IO' && code && ['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY'].includes(code))) throw err;
    try {
      unlinkSync(fsPath(dir, first.rel)); // the failed clone may leave an empty file
    } catch (e) {
      if (!isEnoent(e)) throw e; // ENOENT: nothing was left
    }
    return { method: 'copy', rest: jobs };
  }
  summary.bytes += stats.bytes;
  summary.reflinked += stats.reflinked;
  return { method: 'reflink', rest: jobs.slice(1) };
}

interface WorkerReport {
  stats?: FilesStats;
  cancelled?: boolean;
  error?: { code?: ErrorCode; errno?: string; message: string };
}

/** Worker threads that wait for the file jobs; `run` shares them with the main thread. */
function startWriters(threads: number): { run(work: FilesWork, meanwhile: () => void): Promise<FilesStats>; cancel(): Promise<unknown[]> } {
  // Options the workers cannot take are left out (util/worker.ts). Their young generation is kept
  // small: a worker holds only a buffer per file, and a grown young generation is what made a
  // checkout's RSS grow.
  const workers: Worker[] = [];
  const reports: Promise<WorkerReport>[] = [];
  for (let i = 1; i < threads; i++) {
    const worker = startWorker(new URL('./write-files-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    workers.push(worker);
    reports.push(new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`a file writing thread exited (${code}) without reporting`)));
    }));
  }
  return {
    /** Stops the workers before they got work; resolves with what went wrong in any of them. */
    async cancel() {
      for (const w of workers) w.postMessage(null);
      const failures: unknown[] = [];
      for (const r of await Promise.allSettled(reports)) {
        if (r.status === 'rejected') failures.push(r.reason);
        else if (r.value.error) failures.push(rebuild(r.value.error));
      }
      return failures;
    },
    async run(work, meanwhile) {
      for (const w of workers) w.postMessage(work);
      let failure: unknown;
      const total: FilesStats = { bytes: 0, linkedToStore: 0, reflinked: 0 };
      const add = (s: FilesStats) => {
        total.bytes += s.bytes;
        total.linkedToStore += s.linkedToStore;
        total.reflinked += s.reflinked;
      };
      try {
        meanwhile();
        add(writeClaimedFiles(work));
      } catch (err) {
        failure = err;
        stopClaims(work.counter);
      }
      // Every worker is waited for, even after a failure here, so none is left running or unreported.
      const note = (err: unknown) => (failure = failure === undefined ? err : withLaterFailure(failure, err, 'another file writing thread'));
      for (const r of await Promise.allSettled(reports)) {
        if (r.status === 'rejected') note(r.reason);
        else if (r.value.error) note(rebuild(r.value.error));
        else if (r.value.stats) add(r.value.stats);
      }
      if (failure !== undefined) throw failure;
      return total;
    },
  };
}

function rebuild(e: NonNullable<WorkerReport['error']>): Error {
  if (e.code) return new OcitoolError(e.code, e.message);
  return Object.assign(new Error(e.message), e.errno ? { code: e.errno } : {});
}
