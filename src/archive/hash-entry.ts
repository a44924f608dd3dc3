/** Hashes one archive entry as it streams (for layer files whose digest the archive does not say). */
import { createHash } from 'node:crypto';
import type { Digest } from '../oci/digest.js';
import type { TarArchive, TarEntry } from '../tar/archive.js';

/** sha256 digest of an entry's bytes, read once. */
export async function hashEntry(archive: TarArchive, entry: Extract<TarEntry, { type: 'file' }>): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of archive.openEntry(entry)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}` as Digest;
}
