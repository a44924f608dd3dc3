/**
 * `convert`: a docker-save archive (or OCI layout tar) to an OCI layout folder or tar, through the
 * copy engine, with layers re-compressed (recompress-sink.ts). Refs follow refs.ts.
 */
import { copyImages, type CopyResult } from '../copy/engine.js';
import type { Reporter } from '../copy/progress.js';
import type { ImageSink } from '../copy/transport.js';
import type { CompressOptions } from '../compress/index.js';
import type { Compression } from '../oci/media-types.js';
import type { ArchiveSource } from './docker-archive.js';
import { LayoutTarSink } from './layout-tar-sink.js';
import { RecompressSink } from './recompress-sink.js';
import { assignConvertRefs, fullName } from './refs.js';

/**
 * gzip level of converted layers unless asked otherwise: 1, as crane writes layers. Measured on a
 * Debian minbase layer (170 MB of tar): level 1 takes half the time of level 6 for 8% more bytes
 * (66.2 MB against 61.1 MB; skopeo's default writes 63.3 MB). docs/save-load.md has the table.
 */
export const CONVERT_GZIP_LEVEL = 1;

export interface ConvertOptions {
  /** Layer compression to write; undefined keeps layers as they are. */
  compress?: Compression;
  compressOptions?: CompressOptions;
  spoolParent: string;
  reporter?: Reporter;
  concurrency?: number;
}

/** Copies every image of `source` into `sink` (a LayoutTarSink gets image names too). */
export async function convertArchive(source: ArchiveSource, sink: ImageSink, options: ConvertOptions): Promise<CopyResult[]> {
  const names = source.images.flatMap((i) => (i.refName === undefined ? i.imageNames.map(fullName) : []));
  const refs = assignConvertRefs([...new Set(names)]);
  const roots = source.images.map((image) => {
    if (image.refName !== undefined) {
      if (sink instanceof LayoutTarSink && image.imageNames[0]) sink.setImageName(image.refName, fullName(image.imageNames[0]));
      return { descriptor: image.descriptor, names: [image.refName] };
    }
    const imageRefs = image.imageNames.map((n) => {
      const ref = refs.get(fullName(n))!;
      if (sink instanceof LayoutTarSink) sink.setImageName(ref, fullName(n));
      return ref;
    });
    return { descriptor: image.descriptor, names: imageRefs };
  });
  if (options.compress === undefined) return copyImages(source, sink, roots, { reporter: options.reporter, concurrency: options.concurrency });
  const compressOptions = { ...(options.compress === 'gzip' ? { level: CONVERT_GZIP_LEVEL } : {}), ...options.compressOptions };
  const recompress = new RecompressSink(sink, options.compress, options.spoolParent, compressOptions);
  const results = await copyImages(source, recompress, roots, { reporter: options.reporter, concurrency: options.concurrency });
  // The engine reports the roots it read; the output holds them re-written.
  return results.map((r) => ({ ...r, descriptor: recompress.mapDescriptor(r.descriptor) }));
}
