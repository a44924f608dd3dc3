/**
 * What the tags reach: blobs (by OCI digest), split layers (by diff_id) and the objects behind
 * them. `gc` keeps exactly this set; `fsck` checks it is all there.
 */
import path from 'node:path';
import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.js';
import { OcitoolError } from '../errors.js';
import { presenceOf, walkImage } from '../oci/graph.js';
import type { Descriptor } from '../oci/schemas.js';
import type { ObjectId } from '../verity/fsverity.js';
import { readSplitRecords } from './split-stream.js';
import { linkedObject } from './links.js';
import type { Store } from './store.js';
import type { TagRecord } from './tags.js';

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
  /** Manifests whose composefs image (composefs/<alg>/<hex>, src/rootfs/composefs-image.ts) is kept. */
  composefs: Set<Digest>;
  problems: Problem[];
}

export { linkedObject } from './links.js';

/**
 * Walks every tag through the graph walker (src/oci/graph.ts), following only what the tag records
 * as present. A blob a tag should reach but the store lacks is a problem; a missing manifest,
 * index or config also makes the image unreadable ('corrupt-image': what it names cannot be
 * known), so gc removes nothing.
 */
/** `tags`: the tag records to walk, when the caller has read them already; default every tag. */
export async function computeReach(store: Store, tags?: readonly TagRecord[]): Promise<Reach> {
  const reach: Reach = { blobs: new Set(), layers: new Set(), objects: new Set(), composefs: new Set(), problems: [] };
  /** Adds a blob and its object; false when the store lacks it. */
  const addBlob = async (digest: Digest): Promise<boolean> => {
    reach.blobs.add(digest);
    const id = await linkedObject(store.paths.blob(digest));
    if (!id || !(await store.hasBlob(digest))) return false;
    reach.objects.add(id);
    return true;
  };
  const missing = (desc: Descriptor) =>
    reach.problems.push({ kind: 'missing-blob', object: desc.digest, message: `blob ${desc.digest} (${desc.mediaType}) is missing` });
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
  const visited = new Set<string>();
  for (const tag of tags ?? (await store.listTags())) {
    try {
      let unreadable: string | undefined;
      await walkImage<void>(tag.descriptor, {
        read: async (desc) => ((await addBlob(desc.digest)) ? store.readBlob(desc.digest) : undefined),
        presence: presenceOf(tag.presentChildren),
        config: 'always',
        absent: (desc, kind, expected) => {
          // Under an old flat presence list, a nested index's children are present if held.
          if (expected) {
            reach.blobs.delete(desc.digest);
            return;
          }
          missing(desc);
          unreadable ??= `${kind} ${desc.digest}`;
        },
        visitIndex: async () => {},
        visitManifest: async (node) => {
          if (visited.has(node.descriptor.digest)) return;
          visited.add(node.descriptor.digest);
          // A stored composefs image of this manifest lives as long as the manifest is tagged.
          const digest = node.descriptor.digest;
          const composefsId = await linkedObject(path.join(store.root, 'composefs', digestAlgorithm(digest), digestHex(digest)));
          if (composefsId) {
            reach.composefs.add(digest);
            reach.objects.add(composefsId);
          }
          for (const layer of node.layers) {
            if (!(await addBlob(layer.descriptor.digest))) missing(layer.descriptor);
            if (layer.diffId) await addLayer(layer.diffId);
          }
        },
      });
      // What a missing document names is unknown: gc must not take it for unreachable.
      if (unreadable) throw new OcitoolError('BLOB_MISSING', `${unreadable} is missing, so what it names cannot be known`);
    } catch (err) {
      reach.problems.push({ kind: 'corrupt-image', object: tag.name, message: `image ${tag.name}: ${(err as Error).message}` });
    }
  }
  const seen = new Set<string>();
  reach.problems = reach.problems.filter((p) => !seen.has(`${p.kind} ${p.object}`) && !!seen.add(`${p.kind} ${p.object}`));
  return reach;
}
