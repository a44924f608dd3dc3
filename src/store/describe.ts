/** Summaries of a stored image: platforms present, total size, and its manifests and configs. */
import { isIndexType } from '../oci/media-types.js';
import { hostPlatform, platformMatches, type Platform } from '../oci/platform.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, parseJson, type Descriptor, type Manifest } from '../oci/schemas.js';
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

/** The manifests a tag reaches in the store, with their platforms. */
export async function describeImage(store: Store, tag: TagRecord): Promise<ImageSummary> {
  const manifests: StoredManifest[] = [];
  let size = 0;
  let partial = false;
  const visit = async (desc: Descriptor, present?: string[]): Promise<void> => {
    size += desc.size;
    const raw = await store.readBlob(desc.digest);
    if (isIndexType(desc.mediaType)) {
      const index = parseJson(raw, IndexSchema, `index ${desc.digest}`);
      for (const child of index.manifests) {
        if (present && !present.includes(child.digest)) {
          partial = true;
          continue;
        }
        if (!(await store.hasBlob(child.digest))) {
          partial = true;
          continue;
        }
        await visit(child);
      }
      return;
    }
    const manifest = parseJson(raw, ManifestSchema, `manifest ${desc.digest}`);
    size += manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
    let platform = desc.platform;
    if (!platform) {
      const config = await store.readBlob(manifest.config.digest).then((r) => parseJson(r, ImageConfigSchema, `config ${manifest.config.digest}`)).catch(() => undefined);
      if (config?.os && config.architecture) platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    }
    manifests.push({ descriptor: desc, manifest, platform });
  };
  await visit(tag.descriptor, tag.presentChildren);
  return { platforms: manifests.flatMap((m) => (m.platform ? [m.platform] : [])), size, manifests, partial };
}

/** The stored manifest for a platform (default: the host's, else the only one). */
export function pickManifest(summary: ImageSummary, wanted?: Platform): StoredManifest | undefined {
  if (summary.manifests.length === 1 && !wanted) return summary.manifests[0];
  const target = wanted ?? hostPlatform();
  return summary.manifests.find((m) => m.platform && platformMatches(m.platform, target)) ?? (wanted ? undefined : summary.manifests[0]);
}
