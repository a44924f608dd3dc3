/**
 * The platforms of a remote image, for `remote arches`: from the index entries, or, where an
 * entry (or a lone manifest) names none, from the image config. Every document read is verified.
 */
import { bashbrewArch, formatPlatform, type Platform } from '../oci/platform.js';
import { ImageConfigSchema, parseImageDocument, parseJson, type Descriptor } from '../oci/schemas.js';
import { verifyBuffer } from '../oci/verify.js';
import type { Resolved } from './resolve.js';
import type { RegistrySource } from './source.js';

/** Annotation buildx puts on attestation manifests in an index: they are not platforms. */
const REFERENCE_TYPE = 'vnd.docker.reference.type';

export interface RemotePlatform {
  /** bashbrew architecture name (amd64, arm64v8…), or OS/ARCH[/VARIANT] when bashbrew has none. */
  arch: string;
  platform: Platform;
  /** The manifest for that platform. */
  descriptor: Descriptor;
}

async function platformFromConfig(source: RegistrySource, manifestDesc: Descriptor, raw?: Buffer): Promise<Platform> {
  const manifestRaw = raw ?? (await source.readBlob(manifestDesc));
  verifyBuffer(manifestRaw, manifestDesc, `manifest ${manifestDesc.digest}`);
  const doc = parseImageDocument(manifestRaw, manifestDesc.mediaType, `manifest ${manifestDesc.digest}`);
  if (doc.kind !== 'manifest') return { os: 'unknown', architecture: 'unknown' };
  const configDesc = doc.manifest.config;
  const configRaw = await source.readBlob(configDesc);
  verifyBuffer(configRaw, configDesc, `config ${configDesc.digest}`);
  const config = parseJson(configRaw, ImageConfigSchema, `config ${configDesc.digest}`);
  const platform: Platform = { os: config.os ?? 'unknown', architecture: config.architecture ?? 'unknown' };
  if (config.variant) platform.variant = config.variant;
  return platform;
}

/** Lists the platforms of a resolved image with their manifests, in index order. */
export async function listRemotePlatforms(resolved: Resolved): Promise<RemotePlatform[]> {
  const { document, source, descriptor, raw } = resolved;
  const entries: { descriptor: Descriptor; platform: Platform }[] = [];
  if (document.kind === 'manifest') {
    entries.push({ descriptor, platform: await platformFromConfig(source, descriptor, raw) });
  } else {
    for (const child of document.index.manifests) {
      if (child.annotations?.[REFERENCE_TYPE]) continue;
      entries.push({ descriptor: child, platform: child.platform ?? (await platformFromConfig(source, child)) });
    }
  }
  return entries.map((e) => ({ arch: bashbrewArch(e.platform) ?? formatPlatform(e.platform), platform: e.platform, descriptor: e.descriptor }));
}
