/** Summaries of a stored image: platforms present, total size, and its manifests and configs. */
import { presenceOf, walkImage } from '../oci/graph.js';
import { hostPlatform, platformMatches, type Platform } from '../oci/platform.js';
import type { Descriptor, Manifest } from '../oci/schemas.js';
import type { Store } from './store.js';
import type { TagRecord } from './tags.js';

export interface StoredManifest {
  descriptor: Descriptor;
  manifest: Manifest;
  platform: Platform | undefined;
}

export interface ImageSummary {
  platforms: Platform[];
  /** Bytes of every blob the image has in the store (compressed layers, configs, manifests). */
  size: number;
  manifests: StoredManifest[];
  /** An index of which only some children are in the store. */
  partial: boolean;
}

/** The manifests a tag reaches in the store (what its presence records and the store holds), with their platforms. */
export async function describeImage(store: Store, tag: TagRecord): Promise<ImageSummary> {
  const manifests: StoredManifest[] = [];
  let size = 0;
  const walked = await walkImage<void>(tag.descriptor, {
    read: async (desc) => ((await store.hasBlob(desc.digest)) ? store.readBlob(desc.digest) : undefined),
    presence: presenceOf(tag.presentChildren),
    config: 'platform',
    visitIndex: async (node) => {
      size += node.descriptor.size;
    },
    visitManifest: async (node) => {
      const { descriptor, manifest, platform } = node;
      size += descriptor.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
      manifests.push({ descriptor, manifest, platform });
    },
  });
  const partial = walked === undefined || walked.presence !== true;
  return { platforms: manifests.flatMap((m) => (m.platform ? [m.platform] : [])), size, manifests, partial };
}

/** The stored manifest for a platform (default: the host's, else the only one). */
export function pickManifest(summary: ImageSummary, wanted?: Platform): StoredManifest | undefined {
  if (summary.manifests.length === 1 && !wanted) return summary.manifests[0];
  const target = wanted ?? hostPlatform();
  return summary.manifests.find((m) => m.platform && platformMatches(m.platform, target)) ?? (wanted ? undefined : summary.manifests[0]);
}
