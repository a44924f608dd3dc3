/**
 * What the tags reach: blobs (by OCI digest), split layers (by diff_id) and the objects behind
 * them. `gc` keeps exactly this set; `fsck` checks it is all there.
 */
import { readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { isIndexType, isManifestType, isTarLayerType, MediaType } from '../oci/media-types.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import type { ObjectId } from '../verity/fsverity.js';
import { readSplitRecords } from './split-stream.js';
import type { Store } from './store.js';

export interface Problem {
  /** Stable kind for scripts: missing-blob, missing-layer, corrupt-object, … */
  kind: string;
  object: string;
  message: string;
}

export interface Reach {
  blobs: Set<Digest>;
  layers: Set<Digest>;
  objects: Set<ObjectId>;
  problems: Problem[];
}

/** The object a blob or layer link points to. */
export async function linkedObject(linkPath: string): Promise<ObjectId | undefined> {
  try {
    const target = await readlink(linkPath);
    const parts = target.split(path.sep);
    const n = parts.length;
    return `${parts[n - 2]}${parts[n - 1]}` as ObjectId;
  } catch {
    return undefined;
  }
}

export async function computeReach(store: Store): Promise<Reach> {
  const reach: Reach = { blobs: new Set(), layers: new Set(), objects: new Set(), problems: [] };
  const seen = new Set<string>();
  const addBlob = async (desc: Descriptor): Promise<boolean> => {
    reach.blobs.add(desc.digest);
    const id = await linkedObject(store.paths.blob(desc.digest));
    if (!id || !(await store.hasBlob(desc.digest))) {
      reach.problems.push({ kind: 'missing-blob', object: desc.digest, message: `blob ${desc.digest} (${desc.mediaType}) is missing` });
      return false;
    }
    reach.objects.add(id);
    return true;
  };
  const visit = async (desc: Descriptor, present?: Digest[]): Promise<void> => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    if (!(await addBlob(desc))) return;
    const raw = await store.readBlob(desc.digest);
    if (isIndexType(desc.mediaType)) {
      const index = parseJson(raw, IndexSchema, `index ${desc.digest}`);
      for (const child of index.manifests) {
        if (present && !present.includes(child.digest)) continue;
        await visit(child);
      }
      return;
    }
    if (!isManifestType(desc.mediaType)) return;
    const manifest = parseJson(raw, ManifestSchema, `manifest ${desc.digest}`);
    if (!(await addBlob(manifest.config))) return;
    const isImage = manifest.config.mediaType === MediaType.ociConfig || manifest.config.mediaType === MediaType.dockerConfig;
    const diffIds = isImage ? parseJson(await store.readBlob(manifest.config.digest), ImageConfigSchema, `config ${manifest.config.digest}`).rootfs.diff_ids : [];
    let i = 0;
    for (const layer of manifest.layers) {
      await addBlob(layer);
      if (!isTarLayerType(layer.mediaType) || !isImage) continue;
      const diffId = diffIds[i++];
      if (diffId) await addLayer(diffId);
    }
  };
  const addLayer = async (diffId: Digest): Promise<void> => {
    if (reach.layers.has(diffId)) return;
    reach.layers.add(diffId);
    const id = await linkedObject(store.paths.layer(diffId));
    if (!id || !(await store.hasLayer(diffId))) {
      reach.problems.push({ kind: 'missing-layer', object: diffId, message: `split layer ${diffId} is missing` });
      return;
    }
    reach.objects.add(id);
    for await (const record of readSplitRecords(store.paths.object(id))) {
      if (record.type === 'object') reach.objects.add(record.id);
    }
  };
  for (const tag of await store.listTags()) {
    try {
      await visit(tag.descriptor, tag.presentChildren);
    } catch (err) {
      reach.problems.push({ kind: 'corrupt-image', object: tag.name, message: `image ${tag.name}: ${(err as Error).message}` });
    }
  }
  return reach;
}
