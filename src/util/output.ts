/**
 * Outputs the user names (`save -o FILE`, `convert -o FILE|DIR`, `pull --layout DIR`): checked
 * before any work, so a bad path fails at once in one line instead of after the copy (or never:
 * creating folders under /proc spins), and written crash-ordered: temp file beside the target,
 * fsync, rename, fsync of the folder.
 */
import { constants } from 'node:fs';
import { access, open, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { OcitoolError, withLaterFailure } from '../errors.js';
import { isEnoent } from './fs.js';
import { scratchPath } from './scratch.js';

/** statfs f_type of file systems that hold no user files (see statfs(2)); tmpfs and devtmpfs share a magic, so /dev is named. */
const PSEUDO_FILE_SYSTEMS = new Map<number, string>([
  [0x9fa0, 'procfs'], [0x62656572, 'sysfs'], [0x63677270, 'cgroup2'], [0x27e0eb, 'cgroup'], [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'], [0x73636673, 'securityfs'], [0x62656570, 'configfs'], [0xcafe4a11, 'bpf'], [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'], [0x42494e4d, 'binfmt_misc'], [0x65735543, 'fusectl'], [0x1cd1, 'devpts'], [0x19800202, 'mqueue'],
]);

/** One line for an I/O error on `file`: the path, what went wrong in words, and the errno code. */
export function ioError(file: string, err: unknown, doing = 'cannot write'): OcitoolError {
  if (err instanceof OcitoolError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    ENOSPC: 'no space left on the device', EDQUOT: 'disk quota exceeded', EACCES: 'permission denied', EPERM: 'operation not permitted',
    EROFS: 'read-only file system', ENOENT: 'no such file or folder', ENOTDIR: 'a part of the path is not a folder', EISDIR: 'it is a folder',
    ENAMETOOLONG: 'the name is too long', EIO: 'input/output error', EPIPE: 'the reader closed the pipe before the output was complete',
    EEXIST: 'it already exists', EFBIG: 'the file is too large',
  };
  const why = code && words[code] ? `${words[code]} (${code})` : err instanceof Error ? err.message : String(err);
  return new OcitoolError(code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `${file}: ${doing}: ${why}`, { cause: err, details: { path: file, ...(code ? { errno: code } : {}) } });
}

/** The nearest path at or above `p` that exists, with its stat. */
async function nearestExisting(p: string): Promise<{ path: string; isDirectory: boolean }> {
  let current = p;
  for (;;) {
    try {
      const info = await stat(current);
      return { path: current, isDirectory: info.isDirectory() };
    } catch (err) {
      if (!isEnoent(err)) throw ioError(current, err, 'cannot look at it');
      const parent = path.dirname(current);
      if (parent === current) throw ioError(current, err, 'cannot look at it');
      current = parent;
    }
  }
}

/**
 * Refuses a place on a pseudo file system (/proc, /sys, ...) or under /dev, except /dev/shm: the
 * shared-memory tmpfs is an ordinary place for files (and where benchmarks and CI often work).
 */
async function refusePseudo(output: string, existing: string): Promise<void> {
  const inShm = existing === '/dev/shm' || existing.startsWith('/dev/shm/');
  if (!inShm && (existing === '/dev' || existing.startsWith('/dev/'))) {
    throw new OcitoolError('IO', `${output}: refusing to write under /dev; give a regular file or folder path`);
  }
  const fs = await statfs(existing).catch((err: unknown) => {
    throw ioError(existing, err, 'cannot look at it');
  });
  const name = PSEUDO_FILE_SYSTEMS.get(Number(fs.type));
  if (name) throw new OcitoolError('IO', `${output}: ${existing} is on ${name}, not a file system for files; give a regular file or folder path`);
}

async function mustWrite(dir: string, output: string): Promise<void> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw ioError(dir, err, `cannot write ${path.basename(output)} in this folder`);
  }
}

/** A file output: an existing regular file (replaced) or a new name in an existing, writable folder. */
export async function checkOutputFile(file: string): Promise<string> {
  const abs = path.resolve(file);
  let info;
  try {
    info = await stat(abs);
  } catch (err) {
    if (!isEnoent(err)) throw ioError(abs, err, 'cannot look at it');
  }
  if (info && !info.isFile()) {
    const kind = info.isDirectory() ? 'a folder' : info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : info.isFIFO() ? 'a pipe' : info.isSocket() ? 'a socket' : 'not a regular file';
    throw new OcitoolError('IO', `${file}: is ${kind}; the output must be a regular file path (use shell redirection for pipes and devices)`);
  }
  const dir = path.dirname(abs);
  const existing = await nearestExisting(dir);
  await refusePseudo(file, existing.path);
  if (existing.path !== dir) throw new OcitoolError('NOT_FOUND', `${file}: cannot write: folder ${dir} does not exist`, { details: { path: dir } });
  if (!existing.isDirectory) throw new OcitoolError('IO', `${file}: cannot write: ${dir} is not a folder`, { details: { path: dir } });
  await mustWrite(dir, abs);
  return abs;
}

/** A folder output: an existing folder, or one that can be made (its nearest existing parent is a writable folder). */
export async function checkOutputFolder(dir: string): Promise<string> {
  const abs = path.resolve(dir);
  const existing = await nearestExisting(abs);
  await refusePseudo(dir, existing.path);
  if (!existing.isDirectory) {
    throw new OcitoolError('IO', `${dir}: ${existing.path === abs ? 'exists and is not a folder' : `${existing.path} is not a folder`}`);
  }
  await mustWrite(existing.path, abs);
  return abs;
}

/**
 * fsync of a file written and closed by a stream (any descriptor of the file flushes its data), or
 * of a folder, so a rename or a new name in it is durable.
 */
export async function syncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export const syncFile = syncPath;
export const syncFolder = syncPath;

/** Writes a small file crash-ordered: temp beside it, fsync, rename, fsync of the folder. */
export async function writeFileDurably(file: string, data: Buffer | string): Promise<void> {
  const temp = scratchPath(file);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    const failure = ioError(file, err);
    await rm(temp, { force: true }).catch((later: unknown) => {
      throw withLaterFailure(failure, later, `removing ${temp}`);
    });
    throw failure;
  }
  await syncFolder(path.dirname(file)).catch((err: unknown) => {
    throw ioError(path.dirname(file), err, 'cannot sync the folder');
  });
}
