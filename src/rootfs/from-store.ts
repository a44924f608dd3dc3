/**
 * An image in the store as one merged tree: the manifest for the platform, its config's
 * diff_ids, each layer's split stream (checked against its fs-verity id before it is trusted),
 * merged in order. `checkout` and `composefs` both start here.
 */
import { OcitoolError } from '../errors.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import { normalizeTagName } from '../oci/reference.js';
import { ImageConfigSchema, parseJson } from '../oci/schemas.js';
import { describeImage, pickManifest, type StoredManifest } from '../store/describe.js';
import { linkedObject } from '../store/reach.js';
import { readSplitRecords } from '../store/split-stream.js';
import type { Store } from '../store/store.js';
import { FsVerityHasher } from '../verity/fsverity.js';
import { isEnoent } from '../util/fs.js';
import { readLayerEntries } from './layer-entries.js';
import { TreeMerger, type MergedTree } from './merge.js';

export interface ImageTree {
  name: string;
  manifest: StoredManifest;
  tree: MergedTree;
}

/** Merges the layers of `image` (a name in the store) for `platform` (default: host, else the only one). */
export async function readImageTree(store: Store, image: string, platform?: Platform): Promise<ImageTree> {
  const name = normalizeTagName(image);
  const tag = await store.readTag(name);
  if (!tag) throw new OcitoolError('NOT_FOUND', `no image named ${name} in the store`);
  const summary = await describeImage(store, tag);
  const chosen = pickManifest(summary, platform);
  if (!chosen) {
    throw new OcitoolError('PLATFORM', `${name} has no manifest for ${platform ? formatPlatform(platform) : 'this host'} (it has: ${summary.platforms.map(formatPlatform).join(', ') || 'none'})`);
  }
  const configRaw = await store.readBlob(chosen.manifest.config.digest);
  const diffIds = parseJson(configRaw, ImageConfigSchema, `config ${chosen.manifest.config.digest}`).rootfs.diff_ids;
  const merger = new TreeMerger();
  for (const diffId of diffIds) {
    const what = `${name}: layer ${diffId}`;
    const id = await linkedObject(store.paths.layer(diffId));
    if (!id) throw new OcitoolError('BLOB_MISSING', `${what} is not in the store`);
    // One read of the split stream: hashed as its records are decoded, checked before it is merged.
    const hasher = new FsVerityHasher();
    let entries;
    try {
      entries = await readLayerEntries(readSplitRecords(store.paths.object(id), (chunk) => hasher.update(chunk)), what, diffId);
    } catch (err) {
      if (isEnoent(err)) throw new OcitoolError('BLOB_MISSING', `${what}: split stream object ${id} is missing`, { cause: err });
      throw err;
    }
    if (hasher.hex() !== id) throw new OcitoolError('STORE_CORRUPT', `${what}: split stream object ${id} is corrupt; run ocitool fsck --repair and import the image again`);
    merger.addLayer(entries, what);
  }
  return { name, manifest: chosen, tree: merger.finish() };
}
