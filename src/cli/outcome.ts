/**
 * What a copying command reports at its end (the `result` event, the `pulled NAME DIGEST` line):
 * the platforms of each written image, read back from the destination, never from the network.
 */
import type { CopyResult } from '../copy/engine.js';
import { presenceOf, walkImage } from '../oci/graph.js';
import { formatPlatform } from '../oci/platform.js';
import type { Descriptor } from '../oci/schemas.js';
import type { ResultImage } from './progress.js';

/** Reads a small document (manifest, index, config) where the image was written; undefined when not held. */
export type ReadWritten = (desc: Descriptor) => Promise<Buffer | undefined>;

/** The platforms (os/arch[/variant]) of the manifests one copied root reaches in the destination. */
export async function writtenPlatforms(result: Pick<CopyResult, 'descriptor' | 'presentChildren'>, read: ReadWritten): Promise<string[]> {
  const platforms: string[] = [];
  await walkImage<void>(result.descriptor, {
    read: (desc) => read(desc),
    presence: presenceOf(result.presentChildren),
    config: 'platform',
    visitIndex: async () => {},
    visitManifest: async (node) => {
      if (node.platform) platforms.push(formatPlatform(node.platform));
    },
  });
  return [...new Set(platforms)];
}

/** ResultImages for the engine's results, names as given (store tags or layout refs). */
export async function resultImages(results: CopyResult[], read: ReadWritten): Promise<ResultImage[]> {
  const out: ResultImage[] = [];
  for (const r of results) {
    out.push({ names: r.names, digest: r.descriptor.digest, mediaType: r.descriptor.mediaType, platforms: await writtenPlatforms(r, read) });
  }
  return out;
}

/** A reader that tries each in turn (the sink, then the source the image came from). */
export function readFirst(...readers: Array<ReadWritten | undefined>): ReadWritten {
  return async (desc) => {
    for (const read of readers) {
      const raw = read ? await read(desc) : undefined;
      if (raw) return raw;
    }
    return undefined;
  };
}
