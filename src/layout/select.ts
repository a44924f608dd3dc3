/**
 * Choosing the image to take from a layout: the entries of index.json (or one descriptor file),
 * looking inside nested indexes, filtered by platform; reading configs where a descriptor names no
 * platform. Exactly one manifest must remain.
 */
import { OcitoolError } from '../errors.js';
import { isIndexType, isManifestType } from '../oci/media-types.js';
import { formatPlatform, platformMatches, type Platform } from '../oci/platform.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import { verifyBuffer } from '../oci/verify.js';
import type { LayoutSource } from './source.js';


export interface LayoutCandidate {
  descriptor: Descriptor;
  platform: Platform | undefined;
  /** Annotations of the index.json entry it was found under (names live there). */
  entry: Descriptor;
}

/** Every manifest reachable from the given entries, with its platform. */
export async function listManifests(layout: LayoutSource, entries: Descriptor[]): Promise<LayoutCandidate[]> {
  const out: LayoutCandidate[] = [];
  const visit = async (desc: Descriptor, entry: Descriptor, depth: number, seen: string[]): Promise<void> => {
    if (seen.includes(desc.digest) || depth > 8) throw new OcitoolError('LAYOUT_INVALID', `${layout.tree.description}: index ${desc.digest} names itself`);
    if (isIndexType(desc.mediaType)) {
      const raw = await layout.readBlob(desc);
      verifyBuffer(raw, desc, `index ${desc.digest} in ${layout.description}`);
      const index = parseJson(raw, IndexSchema, `index ${desc.digest}`);
      for (const child of index.manifests) await visit(child, entry, depth + 1, [...seen, desc.digest]);
    } else if (isManifestType(desc.mediaType)) {
      out.push({ descriptor: desc, platform: desc.platform ?? (await platformFromConfig(layout, desc)), entry });
    }
  };
  for (const entry of entries) await visit(entry, entry, 0, []);
  return out;
}

async function platformFromConfig(layout: LayoutSource, desc: Descriptor): Promise<Platform | undefined> {
  const raw = await layout.readBlob(desc);
  verifyBuffer(raw, desc, `manifest ${desc.digest} in ${layout.description}`);
  const manifest = parseJson(raw, ManifestSchema, `manifest ${desc.digest}`);
  const configRaw = await layout.readBlob(manifest.config);
  verifyBuffer(configRaw, manifest.config, `config ${manifest.config.digest} in ${layout.description}`);
  const config = parseJson(configRaw, ImageConfigSchema, `config ${manifest.config.digest}`);
  if (!config.os || !config.architecture) return undefined;
  return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
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
