/**
 * The image around a rootfs layer (import-rootfs): a config and manifest with fixed times and key
 * order, so the same tarball and platform give the same manifest digest on every run and machine,
 * and a small ImageSource serving them and the spooled layer to the copy engine.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ImageSource } from '../copy/transport.js';
import { digestOf } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Platform } from '../oci/platform.js';
import type { Descriptor } from '../oci/schemas.js';
import type { RootfsLayer } from './rootfs-layer.js';

/** `created` of every imported rootfs: the epoch, as reproducible builds use (SOURCE_DATE_EPOCH=0). */
export const ROOTFS_CREATED = '1970-01-01T00:00:00Z';

/** Builds config and manifest; returns the manifest descriptor and a source for the whole image. */
export function rootfsImage(layer: RootfsLayer, platform: Platform): { descriptor: Descriptor; source: ImageSource } {
  const config = Buffer.from(JSON.stringify({
    created: ROOTFS_CREATED,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: ROOTFS_CREATED, created_by: 'ocitool import-rootfs' }],
  }));
  const configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: digestOf(config), size: config.length };
  const layerDesc: Descriptor = { mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [layerDesc] }));
  const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: digestOf(manifest), size: manifest.length };
  const small = new Map<string, Buffer>([[configDesc.digest, config], [descriptor.digest, manifest]]);
  const source: ImageSource = {
    description: `rootfs layer ${layer.file}`,
    readBlob: async (desc) => small.get(desc.digest) ?? Buffer.alloc(0),
    openBlob: async (desc) => (small.has(desc.digest) ? Readable.from([small.get(desc.digest)!]) : createReadStream(layer.file, { highWaterMark: 256 * 1024 })),
  };
  return { descriptor, source };
}
