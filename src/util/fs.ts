/**
 * File-system helpers with one rule: only ENOENT means "absent". Every other error (EACCES, EIO,
 * ENOTDIR, EMFILE, ...) is thrown, so a folder that cannot be read is never taken for an empty one.
 */
import { access, readdir } from 'node:fs/promises';

export function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** True when `p` exists; false only on ENOENT. */
export async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch (err) {
    if (isEnoent(err)) return false;
    throw err;
  }
}

/** Names in a folder, without dot files; none only when the folder does not exist. */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (isEnoent(err)) return [];
    throw err;
  }
}

/** Errors that say a file or folder cannot be written here (a read-only mount, another user's store). */
export function isReadOnlyError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EROFS' || code === 'EACCES' || code === 'EPERM';
}
