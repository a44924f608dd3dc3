/**
 * The synthetic OCI manifest ocitool presents for an image in a classic `docker save` archive
 * (which holds no manifest): the config bytes are kept unchanged (so the image ID stays the
 * same), and each layer is described as an uncompressed tar whose digest is its diff_id, which is
 * what the archive's `layer.tar` files are. The engine's verifying stream then checks every
 * layer against its diff_id as it is copied.
 */
import { MediaType } from '../oci/media-types.js';
import type { Digest } from '../oci/digest.js';
import { digestOf } from '../oci/digest.js';
import type { Descriptor, Manifest } from '../oci/schemas.js';

export interface SyntheticManifest {
  descriptor: Descriptor;
  raw: Buffer;
  manifest: Manifest;
}

/** Builds the manifest; `layers` are the stored layer files' digests and sizes, in config order. */
export function syntheticManifest(config: { digest: Digest; size: number }, layers: { digest: Digest; size: number; mediaType?: string }[]): SyntheticManifest {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType ?? MediaType.ociLayerTar, digest: l.digest, size: l.size })),
  };
  const raw = Buffer.from(JSON.stringify(manifest));
  return { descriptor: { mediaType: MediaType.ociManifest, digest: digestOf(raw), size: raw.length }, raw, manifest };
}
