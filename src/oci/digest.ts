/**
 * OCI content digests. A `Digest` can only be made by `parseDigest` (or by hashing), so every
 * digest in the program has a known algorithm and a hex part of the right length: a digest read
 * from untrusted JSON can never smuggle `/` or `..` into a file path.
 */
import { createHash } from 'node:crypto';
import { OcitoolError } from '../errors.js';

export type Digest = string & { readonly __brand: 'Digest' };
export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// Grammar from the image-spec (descriptor.md): algorithm ":" encoded.
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function parseDigest(text: string): Digest {
  if (typeof text !== 'string' || !GRAMMAR.test(text)) {
    throw new OcitoolError('DIGEST_INVALID', `invalid digest ${JSON.stringify(String(text).slice(0, 200))}`);
  }
  const [algorithm, hex] = text.split(':') as [string, string];
  if (!(algorithm in HEX_LENGTH)) {
    throw new OcitoolError('DIGEST_UNSUPPORTED', `unsupported digest algorithm "${algorithm}" in ${text}`);
  }
  const want = HEX_LENGTH[algorithm as DigestAlgorithm];
  if (hex.length !== want || !/^[0-9a-f]+$/.test(hex)) {
    throw new OcitoolError('DIGEST_INVALID', `invalid digest ${text}: ${algorithm} needs ${want} lowercase hex characters`);
  }
  return text as Digest;
}

export function isDigest(text: string): boolean {
  try {
    parseDigest(text);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

/** Short form for progress lines: sha256:0123456789ab. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return i < 0 ? digest.slice(0, 12) : digest.slice(0, i + 13);
}
