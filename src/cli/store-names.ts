/**
 * Checks, before anything is copied, that every store name a command will write fits the store:
 * its tag file name must fit the file system's name limit, so a command never fails with
 * ENAMETOOLONG at the end, after its blobs were published. Names are parsed (and so checked against
 * docker's reference limits) by src/oci/reference.ts before they get here.
 */
import path from 'node:path';
import { OcitoolError } from '../errors.js';
import { quoteReference } from '../oci/reference.js';
import type { Store } from '../store/store.js';

/** NAME_MAX on Linux file systems; the tag's temp file adds a short prefix. */
const NAME_MAX = 255;
const TEMP_PREFIX = 'tag-'.length;

export function checkStoreNames(store: Store, names: Iterable<string>): void {
  for (const name of names) {
    const bytes = Buffer.byteLength(path.basename(store.paths.tag(name)));
    if (bytes + TEMP_PREFIX > NAME_MAX) {
      throw new OcitoolError('REFERENCE_INVALID', `image name ${quoteReference(name)} is too long for the store (its tag file name would be ${bytes} bytes; the limit is ${NAME_MAX - TEMP_PREFIX})`);
    }
  }
}
