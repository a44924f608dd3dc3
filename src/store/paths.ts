/** Where the store lives and how its files are named (see docs/store-format.md). */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { digestAlgorithm, digestHex } from '../oci/digest.js';
import type { ObjectId } from '../verity/fsverity.js';

/** `--store`, else $OCITOOL_STORE, else $XDG_DATA_HOME/ocitool, else ~/.local/share/ocitool. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCITOOL_STORE) return path.resolve(env.OCITOOL_STORE);
  if (env.XDG_DATA_HOME) return path.join(env.XDG_DATA_HOME, 'ocitool');
  return path.join(os.homedir(), '.local', 'share', 'ocitool');
}

export class StorePaths {
  constructor(readonly root: string) {}

  get meta(): string { return path.join(this.root, 'meta.json'); }
  get objects(): string { return path.join(this.root, 'objects'); }
  get blobs(): string { return path.join(this.root, 'blobs'); }
  get layers(): string { return path.join(this.root, 'layers'); }
  get tags(): string { return path.join(this.root, 'tags'); }
  get staging(): string { return path.join(this.root, 'staging'); }
  get locks(): string { return path.join(this.root, 'locks'); }

  /** objects/ab/cdef…: two hex characters of fan-out keep folders small. */
  object(id: ObjectId): string {
    return path.join(this.objects, id.slice(0, 2), id.slice(2));
  }

  /** blobs/sha256/<hex>: a symlink to the object holding the blob's exact bytes. */
  blob(digest: Digest): string {
    return path.join(this.blobs, digestAlgorithm(digest), digestHex(digest));
  }

  /** layers/sha256/<diff_id hex>: a symlink to the split stream of that uncompressed tar. */
  layer(diffId: Digest): string {
    return path.join(this.layers, digestAlgorithm(diffId), digestHex(diffId));
  }

  /** The symlink text for a link under blobs/ or layers/ (two folders deep) to an object. */
  linkTarget(id: ObjectId): string {
    return path.join('..', '..', 'objects', id.slice(0, 2), id.slice(2));
  }

  /** tags/<file name for a tag name> (see tagFileName). */
  tag(name: string): string {
    return path.join(this.tags, tagFileName(name));
  }
}

/** Longest URI-encoded tag name used as a file name as it is; NAME_MAX is 255 bytes. */
export const TAG_FILE_NAME_MAX = 200;
/** Separates a long name's readable prefix from its hash; encodeURIComponent always escapes '@'. */
export const LONG_TAG_MARK = '@sha256-';

/**
 * A tag's file name: the name URI-encoded (so / and : make one file name), or for a name that
 * would not fit, a readable prefix, '@sha256-' and the sha256 of the full name, which the record
 * inside holds. '@' never occurs in an encoded name, so the two kinds cannot collide.
 */
export function tagFileName(name: string): string {
  const encoded = encodeURIComponent(name);
  if (encoded.length <= TAG_FILE_NAME_MAX) return encoded;
  return `${encoded.slice(0, 100)}${LONG_TAG_MARK}${createHash('sha256').update(name, 'utf8').digest('hex')}`;
}
