/**
 * Choosing the image to take from a layout: the entries of index.json (or one descriptor file),
 * looking inside nested indexes, filtered by platform; reading configs where a descriptor names no
 * platform. Exactly one manifest must remain.
 */
import { OcitoolError } from '../errors.js';
import { walkImage } from '../oci/graph.js';
import { isIndexType, isManifestType } from '../oci/media-types.js';
import { formatPlatform, platformMatches, type Platform } from '../oci/platform.js';
import type { Descriptor } from '../oci/schemas.js';
import { verifyBuffer } from '../oci/verify.js';
import type { LayoutSource } from './source.js';

export interface LayoutCandidate {
  descriptor: Descriptor;
  platform: Platform | undefined;
  /** Annotations of the index.json entry it was found under (names live there). */
  entry: Descriptor;
}

/** Every manifest reachable from the given entries (through nested indexes), with its platform. */
export async function listManifests(layout: LayoutSource, entries: Descriptor[]): Promise<LayoutCandidate[]> {
  const out: LayoutCandidate[] = [];
  for (const entry of entries) {
    if (!isIndexType(entry.mediaType) && !isManifestType(entry.mediaType)) continue;
    await walkImage<void>(entry, {
      read: async (desc, kind) => {
        const raw = await layout.readBlob(desc);
        verifyBuffer(raw, desc, `${kind} ${desc.digest} in ${layout.description}`);
        return raw;
      },
      // The platform is the descriptor's; a config is read only for a manifest named without one.
      config: 'platform',
      visitIndex: async () => {},
      visitManifest: async (node) => {
        out.push({ descriptor: node.descriptor, platform: node.platform, entry });
      },
    }).catch((err: unknown) => {
      throw err instanceof OcitoolError && err.code === 'LAYOUT_INVALID' ? new OcitoolError('LAYOUT_INVALID', `${layout.tree.description}: ${err.message}`) : err;
    });
  }
  return out;
}

/** Picks the one manifest to import; several without a platform, or none, is an error. */
export async function selectManifest(layout: LayoutSource, entries: Descriptor[], wanted: Platform | undefined): Promise<LayoutCandidate> {
  if (entries.length === 0) throw new OcitoolError('LAYOUT_INVALID', `${layout.tree.description}: index lists no manifest`);
  const all = await listManifests(layout, entries);
  if (all.length === 0) throw new OcitoolError('LAYOUT_INVALID', `${layout.tree.description}: no image manifest found`);
  const matching = wanted ? all.filter((c) => c.platform && platformMatches(c.platform, wanted)) : all;
  const list = all.map((c) => `${formatPlatform(c.platform)} (${c.descriptor.digest})`).join(', ');
  if (matching.length === 0) throw new OcitoolError('PLATFORM', `${layout.tree.description}: no manifest for ${formatPlatform(wanted)}; the layout has ${list}`);
  if (matching.length > 1) {
    throw new OcitoolError('PLATFORM', `${layout.tree.description}: ${matching.length} manifests${wanted ? ` for ${formatPlatform(wanted)}` : ''}; choose one with --arch or --platform: ${list}`);
  }
  return matching[0]!;
}
