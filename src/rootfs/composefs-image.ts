/**
 * composefs images of stored images: the EROFS image of an image's merged tree, written as a
 * store object and remembered per manifest under `composefs/<algorithm>/<manifest hex>` (a
 * symlink to the object, as blob links are), so `mount` finds it and `gc` keeps it and the file
 * objects it points at as long as the image is tagged (docs/composefs.md).
 */
import path from 'node:path';
import { writeErofs } from '../composefs/erofs-writer.js';
import { withLaterFailure } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { digestAlgorithm, digestHex } from '../oci/digest.js';
import type { Platform } from '../oci/platform.js';
import { StagingArea } from '../store/staging.js';
import type { Store } from '../store/store.js';
import { FsVerityHasher, formatVerityDigest, type ObjectId, type VerityAlgorithm } from '../verity/fsverity.js';
import { toComposefsTree } from './composefs-tree.js';
import { readImageTree, type ImageTree } from './from-store.js';

/** composefs-rs writes format version 1 by default. */
export const DEFAULT_FORMAT_VERSION = 1;

export interface ComposefsImage {
  name: string;
  manifest: Digest;
  image: Buffer;
  /** The image's fs-verity digest (its composefs id), sha256. */
  id: string;
}

/** Where the composefs image of `manifest` is remembered. */
export function composefsLink(store: Store, manifest: Digest): string {
  return path.join(store.root, 'composefs', digestAlgorithm(manifest), digestHex(manifest));
}

export function composefsId(image: Buffer, algorithm: VerityAlgorithm = 'sha256'): string {
  return new FsVerityHasher(algorithm).update(image).hex();
}

/** Builds the EROFS image of a stored image (held under the store's shared lock while read). */
export async function buildComposefsImage(store: Store, imageName: string, options: { platform?: Platform; formatVersion?: 0 | 1 } = {}): Promise<ComposefsImage> {
  const lock = await store.lockShared();
  try {
    return composefsImageOf(await readImageTree(store, imageName, options.platform), options.formatVersion);
  } finally {
    await lock.release();
  }
}

/** The EROFS image of a merged image tree already read. */
export function composefsImageOf({ name, manifest, tree }: ImageTree, formatVersion: 0 | 1 = DEFAULT_FORMAT_VERSION): ComposefsImage {
  const image = writeErofs(toComposefsTree(tree), { version: formatVersion });
  return { name, manifest: manifest.descriptor.digest, image, id: composefsId(image) };
}

export interface StoreComposefsOptions {
  /**
   * The caller already holds the store's shared lock (mount checks and mounts under it): no second
   * lock is taken here, only the check that the store can be written.
   */
  lockHeld?: boolean;
}

/** Stores the image as an object and links it to its manifest: staged, synced, renamed, synced. */
export async function storeComposefsImage(store: Store, built: ComposefsImage, options: StoreComposefsOptions = {}): Promise<ObjectId> {
  if (options.lockHeld) {
    // Under a lock taken for reading, a read-only store must still fail as one, in one line.
    await store.assertWritable();
    return storeLocked(store, built);
  }
  const lock = await store.lockShared('write');
  let id: ObjectId;
  try {
    id = await storeLocked(store, built);
  } catch (err) {
    try {
      await lock.release();
    } catch (later) {
      throw withLaterFailure(err, later, 'releasing the store lock');
    }
    throw err;
  }
  await lock.release();
  return id;
}

async function storeLocked(store: Store, built: ComposefsImage): Promise<ObjectId> {
  const staging = await StagingArea.create(store.paths);
  let id: ObjectId;
  try {
    const group = staging.group();
    id = await group.storeBuffer(built.image);
    group.addLink(composefsLink(store, built.manifest), id);
    await store.syncFilesystem();
    await staging.publish([group]);
    await store.syncFilesystem();
  } catch (err) {
    try {
      await staging.remove();
    } catch (later) {
      throw withLaterFailure(err, later, `removing staging folder ${staging.dir}`);
    }
    throw err;
  }
  await staging.remove();
  return id;
}

export { formatVerityDigest };
