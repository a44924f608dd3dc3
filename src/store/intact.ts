/**
 * Whether something the store already has may be skipped by a pull or import. Nothing is trusted
 * unseen: a blob's object must have the blob's size (small blobs are rehashed), and a split layer
 * must be an intact split stream for that diff_id whose file objects all have their recorded
 * sizes. A full rehash of every large object is `fsck`'s job; these checks cost a stat per object
 * and one read of each small blob and split stream.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { digestAlgorithm, type Digest } from '../oci/digest.js';
import { isEnoent } from '../util/fs.js';
import { FsVerityHasher, type ObjectId } from '../verity/fsverity.js';
import type { StorePaths } from './paths.js';
import { linkedObject } from './links.js';
import { readSplitRecords } from './split-stream.js';

/** Blobs up to this size are rehashed before they are trusted (manifests, configs, small layers). */
export const REHASH_MAX = 1024 * 1024;
/** Object sizes checked at once for a layer. */


/** The size of an object, or undefined when it is absent. */
async function objectSize(paths: StorePaths, id: ObjectId): Promise<number | undefined> {
  try {
    return (await stat(paths.object(id))).size;
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
}

/** Whether the store's copy of a blob can be trusted: its object has the size, and small ones the digest. */
export async function blobIntact(paths: StorePaths, digest: Digest, size: number): Promise<boolean> {
  const id = await linkedObject(paths.blob(digest));
  if (!id) return false;
  if ((await objectSize(paths, id)) !== size) return false;
  if (size > REHASH_MAX) return true;
  let data: Buffer;
  try {
    data = await readFile(paths.object(id));
  } catch (err) {
    if (isEnoent(err)) return false;
    throw err;
  }
  const algorithm = digestAlgorithm(digest);
  return data.length === size && `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` === digest;
}

/**
 * Whether the store's split layer for `diffId` can be trusted: the split stream object hashes to
 * its name, ends with this diff_id, and every file object it names has the recorded size.
 */
export async function layerIntact(paths: StorePaths, diffId: Digest): Promise<boolean> {
  const id = await linkedObject(paths.layer(diffId));
  if (!id) return false;
  const hasher = new FsVerityHasher();
  const sizes = new Map<ObjectId, number>();
  let end: Digest | undefined;
  try {
    for await (const record of readSplitRecords(paths.object(id), (chunk) => hasher.update(chunk))) {
      if (record.type === 'object') sizes.set(record.id, record.size);
      else if (record.type === 'end') end = record.diffId;
    }
  } catch (err) {
    // Absent, or not a readable split stream (STORE_CORRUPT): a new copy replaces it.
    if (isEnoent(err) || (err as { code?: string }).code === 'STORE_CORRUPT') return false;
    throw err;
  }
  if (hasher.hex() !== id || end !== diffId) return false;
  // Synchronous stats: thousands of them on a real root filesystem, microseconds each from the
  // inode cache, where a thread-pool round trip per stat cost more than the stat itself.
  for (const [object, size] of sizes) {
    if (statSync(paths.object(object), { throwIfNoEntry: false })?.size !== size) return false;
  }
  return true;
}
