/** Reading the links under blobs/ and layers/ (and composefs/): which object each names. */
import { readlink } from 'node:fs/promises';
import path from 'node:path';
import { OcitoolError } from '../errors.js';
import { isEnoent } from '../util/fs.js';
import { isObjectId, type ObjectId } from '../verity/fsverity.js';

/**
 * The object a link names, or undefined when there is no link, the path is not a symlink, or the
 * link does not end in an object name (damage: a new copy repairs it by renaming a fresh link
 * over it). Any other read error is the store's and is reported.
 */
export async function linkedObject(linkPath: string): Promise<ObjectId | undefined> {
  let target: string;
  try {
    target = await readlink(linkPath);
  } catch (err) {
    // ENOENT: no link. EINVAL: a file that is not a symlink, so not a link the store wrote.
    if (isEnoent(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw new OcitoolError('STORE', `store link ${linkPath}: ${(err as Error).message}`, { cause: err });
  }
  const parts = target.split(path.sep);
  const id = `${parts[parts.length - 2]}${parts[parts.length - 1]}`;
  return isObjectId(id) ? id : undefined;
}
