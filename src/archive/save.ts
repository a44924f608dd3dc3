/**
 * `save --oci`: images from the store into one deterministic OCI layout tar (layout-tar-sink.ts),
 * with refs from refs.ts. Layers stream from the store straight into the tar (the sink is backed
 * by the store), so nothing is spooled. An index of which the store holds only some platforms is
 * saved with those platforms (the engine writes a new index listing them) and the rest reported.
 */
import type { Writable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import { copyImages, type CopyResult } from '../copy/engine.js';
import type { Reporter } from '../copy/progress.js';
import type { ImageSource } from '../copy/transport.js';
import { isIndexType } from '../oci/media-types.js';
import type { Platform } from '../oci/platform.js';
import { normalizeTagName } from '../oci/reference.js';
import { IndexSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import type { Digest } from '../oci/digest.js';
import { LayoutTarSink } from './layout-tar-sink.js';
import { assignSaveRefs } from './refs.js';

/** What save needs from the store: its tags and its blobs. */
export interface TagReader {
  readTag(name: string): Promise<{ name: string; descriptor: Descriptor; presentChildren?: Digest[] } | undefined>;
}

export interface SaveOptions {
  refFlags: Map<string, string>;
  output: { file: string } | { stream: Writable; label: string };
  spoolParent: string;
  reporter?: Reporter;
}

/** Saves the named images; returns the copy results (with what was left out of partial indexes). */
export async function saveImages(tags: TagReader, source: ImageSource, images: string[], options: SaveOptions): Promise<CopyResult[]> {
  const names = [...new Set(images.map(normalizeTagName))];
  const records = [];
  for (const name of names) {
    const record = await tags.readTag(name);
    if (!record) throw new OcitoolError('NOT_FOUND', `image ${name} is not in the store`);
    records.push(record);
  }
  const refs = assignSaveRefs(names, options.refFlags);
  const sink = new LayoutTarSink(options.output, { spoolParent: options.spoolParent, backing: source });
  for (const [name, ref] of refs) sink.setImageName(ref, name);
  // Sorted by ref, so the same images give the same index.json whatever order they were named in.
  const roots = records.map((r) => ({ descriptor: r.descriptor, names: [refs.get(r.name)!] }))
    .sort((a, b) => (a.names[0]! < b.names[0]! ? -1 : 1));
  const platforms = await presentPlatforms(source, records);
  return copyImages(source, sink, roots, { reporter: options.reporter, platforms });
}

/** 'all', or when some index is held only in part, the platforms of the children present. */
async function presentPlatforms(source: ImageSource, records: { descriptor: Descriptor; presentChildren?: Digest[] }[]): Promise<Platform[] | 'all'> {
  if (!records.some((r) => r.presentChildren)) return 'all';
  const out: Platform[] = [];
  for (const record of records) {
    if (!isIndexType(record.descriptor.mediaType)) continue;
    const index = parseJson(await source.readBlob(record.descriptor), IndexSchema, `index ${record.descriptor.digest}`);
    for (const child of index.manifests) {
      if (child.platform && (!record.presentChildren || record.presentChildren.includes(child.digest))) out.push(child.platform);
    }
  }
  return out;
}
