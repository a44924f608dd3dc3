/**
 * `save --oci`: images from the store into one deterministic OCI layout tar (layout-tar-sink.ts),
 * with refs from refs.ts. Layers stream from the store straight into the tar (the sink is backed
 * by the store), so nothing is spooled. Each image is saved with what its own tag records as held
 * (nested indexes included) and the platforms asked for: an index held or chosen only in part is
 * written as a new index listing that part at every level (or its one manifest), the rest reported.
 */
import type { Writable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import { copyImages, type CopyResult, type CopyRoot } from '../copy/engine.js';
import type { Reporter } from '../copy/progress.js';
import type { ImageSource } from '../copy/transport.js';
import { isIndexType } from '../oci/media-types.js';
import { formatPlatform, platformMatches, type Platform } from '../oci/platform.js';
import { normalizeTagName } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Digest } from '../oci/digest.js';
import { manifestPlatform, presenceOf, walkImage, type Presence, type PresenceTree } from '../oci/graph.js';
import { LayoutTarSink } from './layout-tar-sink.js';
import { assignSaveRefs } from './refs.js';

/** What save needs from the store: its tags and which blobs it holds. */
export interface TagReader {
  readTag(name: string): Promise<{ name: string; descriptor: Descriptor; presentChildren?: readonly Digest[] | PresenceTree } | undefined>;
  hasBlob(digest: Digest): Promise<boolean>;
}

export interface SaveOptions {
  refFlags: Map<string, string>;
  /** Platforms to save of every image (each image must have one); default all it holds. */
  platforms?: Platform[];
  output: { file: string } | { stream: Writable; label: string };
  spoolParent: string;
  reporter?: Reporter;
}

/**
 * Saves the named images; returns the copy results (with what was left out of partial indexes).
 * Children are chosen per image: each image's own presence, then the platform filter.
 */
export async function saveImages(tags: TagReader, source: ImageSource, images: string[], options: SaveOptions): Promise<CopyResult[]> {
  const names = [...new Set(images.map(normalizeTagName))];
  const records = [];
  for (const name of names) {
    const record = await tags.readTag(name);
    if (!record) throw new OcitoolError('NOT_FOUND', `image ${name} is not in the store`);
    records.push(record);
  }
  const refs = assignSaveRefs(names, options.refFlags);
  const platforms = options.platforms?.length ? options.platforms : 'all';
  const roots: CopyRoot[] = [];
  for (const record of records) {
    const label = `image ${record.name}`;
    const present = await heldPresence(tags, source, record.descriptor, record.presentChildren);
    if (platforms !== 'all' && !isIndexType(record.descriptor.mediaType)) await checkManifestPlatform(source, record.descriptor, platforms, label);
    roots.push({ descriptor: record.descriptor, names: [refs.get(record.name)!], platforms, label, ...(present === true ? {} : { present }) });
  }
  const sink = new LayoutTarSink(options.output, { spoolParent: options.spoolParent, backing: source });
  for (const [name, ref] of refs) sink.setImageName(ref, name);
  // Sorted by ref, so the same images give the same index.json whatever order they were named in.
  roots.sort((a, b) => (a.names[0]! < b.names[0]! ? -1 : 1));
  return copyImages(source, sink, roots, { reporter: options.reporter });
}

/**
 * The presence tree of a tag. Old tag files list only the root's present children; what of a
 * nested index below them is held is found by looking in the store.
 */
async function heldPresence(tags: TagReader, source: ImageSource, root: Descriptor, recorded: readonly Digest[] | PresenceTree | undefined): Promise<Presence> {
  if (!Array.isArray(recorded)) return presenceOf(recorded);
  const walked = await walkImage<void>(root, {
    read: async (desc) => ((await tags.hasBlob(desc.digest)) ? source.readBlob(desc) : undefined),
    presence: presenceOf(recorded),
    config: 'never',
    visitIndex: async () => {},
    visitManifest: async () => {},
  });
  return walked?.presence ?? {};
}

/** A single-manifest image saved with --platform must be for one of them. */
async function checkManifestPlatform(source: ImageSource, root: Descriptor, platforms: Platform[], label: string): Promise<void> {
  const platform = await manifestPlatform(root, (desc) => source.readBlob(desc), label);
  if (!platform || !platforms.some((p) => platformMatches(platform!, p))) {
    throw new OcitoolError('PLATFORM', `${label} is for ${formatPlatform(platform)}, not ${platforms.map(formatPlatform).join(', ')}`);
  }
}
