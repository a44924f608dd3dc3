/**
 * Resolving a reference to its root descriptor: the manifest or index bytes, their digest checked
 * against the reference's digest or the registry's Docker-Content-Digest, and their media type
 * checked against their content.
 */
import { OcitoolError } from '../errors.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { parseImageDocument, type Descriptor, type ImageDocument } from '../oci/schemas.js';
import { verifyBuffer } from '../oci/verify.js';
import { openRegistrySource, type RegistrySource, type RegistrySourceOptions } from './source.js';

export interface Resolved {
  /** The root: media type from the document, digest checked, size of the raw bytes. */
  descriptor: Descriptor;
  /** The manifest or index exactly as received. */
  raw: Buffer;
  document: ImageDocument;
  source: RegistrySource;
}

/** Resolves `ref` (tag or digest) on its registry; throws DIGEST_MISMATCH, MEDIA_TYPE, NOT_FOUND, AUTH… */
export async function resolve(ref: Reference, options: RegistrySourceOptions | RegistrySource = {}): Promise<Resolved> {
  const source = 'fetchManifest' in options ? options : openRegistrySource(ref, options);
  const name = formatReference(ref);
  const reference = ref.digest ?? ref.tag!;
  const fetched = await source.fetchManifest(reference, `manifest ${name}`);
  const what = `manifest ${name} from ${source.description}`;
  let digest: Digest;
  if (ref.digest) {
    digest = ref.digest;
    verifyBuffer(fetched.raw, { digest, size: fetched.raw.length }, what);
  } else if (fetched.dockerContentDigest) {
    try {
      digest = parseDigest(fetched.dockerContentDigest);
    } catch (err) {
      throw new OcitoolError((err as OcitoolError).code ?? 'REGISTRY', `${what}: bad Docker-Content-Digest header: ${(err as Error).message}`, { cause: err });
    }
    verifyBuffer(fetched.raw, { digest, size: fetched.raw.length }, what);
  } else {
    digest = digestOf(fetched.raw);
  }
  const document = parseImageDocument(fetched.raw, fetched.contentType, what);
  if (document.kind === 'index' && document.index.manifests.some((m) => m.digest === digest)) {
    throw new OcitoolError('JSON_INVALID', `${what}: the index lists itself (${digest})`);
  }
  return { descriptor: { mediaType: document.mediaType, digest, size: fetched.raw.length }, raw: fetched.raw, document, source };
}
