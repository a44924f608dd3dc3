/**
 * `--platform` on a single-platform image: docker and skopeo copy it whatever it is, and a script
 * asking for arm64 silently gets amd64. ocitool refuses (one line naming both) unless --force.
 */
import { OcitoolError } from '../errors.js';
import { manifestPlatform } from '../oci/graph.js';
import { isIndexType } from '../oci/media-types.js';
import { formatPlatform, platformMatches, type Platform } from '../oci/platform.js';
import type { Descriptor } from '../oci/schemas.js';

/** Throws PLATFORM when `root` is one manifest whose platform is none of `wanted` (and not `force`). */
export async function checkSinglePlatform(read: (desc: Descriptor) => Promise<Buffer>, root: Descriptor, wanted: Platform[], label: string, force: boolean): Promise<void> {
  if (force || wanted.length === 0 || isIndexType(root.mediaType)) return;
  const platform = await manifestPlatform(root, read, label);
  if (platform && !wanted.some((w) => platformMatches(platform!, w))) {
    throw new OcitoolError('PLATFORM', `${label} is a single-platform image for ${formatPlatform(platform)}, not ${wanted.map(formatPlatform).join(', ')}; use --force to take it anyway`);
  }
}
