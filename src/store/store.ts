/**
 * The content-addressed store: immutable objects named by fs-verity digest, OCI blobs kept
 * byte-exact and found by digest, tar layers split into file objects, and tags. It knows OCI
 * blobs and tar layers but no transport. Format: docs/store-format.md.
 */
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { OcitoolError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { MAX_JSON_BYTES, parseJson, type Descriptor } from '../oci/schemas.js';
import type { ImageSource } from '../copy/transport.js';
import { defaultStoreDir, StorePaths } from './paths.js';
import { openSplitStream } from './split-stream.js';
import { listTags, readTag, removeTag, type TagRecord } from './tags.js';
import { acquireShared, type Lock } from './lock.js';
import { exists } from '../util/fs.js';
import { syncFilesystem } from '../util/sync.js';
import { StoreSink, type StoreSinkOptions } from './sink.js';

/** Bumped only for incompatible changes; readers refuse a store with a newer version. */
export const STORE_FORMAT_VERSION = 1;

const MetaSchema = z.object({
  version: z.number().int(),
  objectAlgorithm: z.literal('fsverity-sha256'),
  features: z.object({
    compatible: z.array(z.string()),
    readOnlyCompatible: z.array(z.string()),
    incompatible: z.array(z.string()),
  }),
});

/** Features this build understands; a store naming an unknown incompatible feature is refused. */
const KNOWN_INCOMPATIBLE: string[] = [];

export interface StoreOptions {
  /** Called when another process holds the lock and this one waits. */
  onLockWait?: (message: string) => void;
}

export class Store {
  private constructor(readonly paths: StorePaths, readonly options: StoreOptions) {}

  /** Opens the store at `root` (default location when absent), creating it when new. */
  static async open(root: string = defaultStoreDir(), options: StoreOptions = {}): Promise<Store> {
    const paths = new StorePaths(root);
    let raw: Buffer | undefined;
    try {
      raw = await readFile(paths.meta);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OcitoolError('STORE', `store ${root}: ${(err as Error).message}`, { cause: err });
    }
    if (raw) {
      const meta = parseJson(raw, MetaSchema, `store ${paths.meta}`);
      if (meta.version > STORE_FORMAT_VERSION) throw new OcitoolError('STORE', `store ${root} has format version ${meta.version}; this ocitool reads up to ${STORE_FORMAT_VERSION}`);
      const unknown = meta.features.incompatible.filter((f) => !KNOWN_INCOMPATIBLE.includes(f));
      if (unknown.length) throw new OcitoolError('STORE', `store ${root} uses features this ocitool does not know: ${unknown.join(', ')}`);
    } else {
      for (const dir of [paths.objects, paths.blobs, paths.layers, paths.tags, paths.staging, paths.locks]) await mkdir(dir, { recursive: true });
      const meta = { version: STORE_FORMAT_VERSION, objectAlgorithm: 'fsverity-sha256', features: { compatible: [], readOnlyCompatible: [], incompatible: [] } };
      // 'wx': two processes creating one store at once both succeed; the loser's write is refused and harmless.
      await writeFile(paths.meta, JSON.stringify(meta, null, 2) + '\n', { flag: 'wx' }).catch((err) => {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      });
    }
    return new Store(paths, options);
  }

  get root(): string {
    return this.paths.root;
  }

  /** Holds the lock shared: any number of writers of new content, but no gc. */
  lockShared(): Promise<Lock> {
    return acquireShared(this.paths.locks, (pid) => this.options.onLockWait?.(`waiting for process ${pid} (gc) to release the store lock`));
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return exists(this.paths.blob(digest));
  }

  async hasLayer(diffId: Digest): Promise<boolean> {
    return exists(this.paths.layer(diffId));
  }

  /** A small blob read whole, refusing more than `maxBytes`. */
  async readBlob(digest: Digest, maxBytes = MAX_JSON_BYTES): Promise<Buffer> {
    const file = this.paths.blob(digest);
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      throw new OcitoolError('BLOB_MISSING', `blob ${digest} is not in the store`, { cause: err });
    }
    try {
      const size = (await handle.stat()).size;
      if (size > maxBytes) throw new OcitoolError('JSON_TOO_LARGE', `blob ${digest}: ${size} bytes is over the ${maxBytes}-byte limit`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async openBlob(digest: Digest): Promise<Readable> {
    const file = this.paths.blob(digest);
    if (!(await exists(file))) throw new OcitoolError('BLOB_MISSING', `blob ${digest} is not in the store`);
    return createReadStream(file, { highWaterMark: 256 * 1024 });
  }

  /** The uncompressed tar of a layer, reassembled from its split stream. */
  async openLayer(diffId: Digest): Promise<Readable> {
    const file = this.paths.layer(diffId);
    if (!(await exists(file))) throw new OcitoolError('BLOB_MISSING', `layer ${diffId} is not in the store`);
    return openSplitStream(file, (id) => this.paths.object(id));
  }

  listTags(): Promise<TagRecord[]> {
    return listTags(this.paths);
  }

  readTag(name: string): Promise<TagRecord | undefined> {
    return readTag(this.paths, name);
  }

  /** Removes tags; the objects stay until `gc`. */
  async removeTags(names: string[]): Promise<void> {
    for (const name of names) await removeTag(this.paths, name);
  }

  /** Makes everything written so far durable (one syncfs for the store's filesystem). */
  syncFilesystem(): Promise<void> {
    return syncFilesystem(this.paths.root);
  }

  /** A sink for one copy operation: holds the lock shared until commit or abort. */
  createSink(options: StoreSinkOptions = {}): Promise<StoreSink> {
    return StoreSink.create(this, options);
  }

  /** The store as a copy source (for save): blobs by digest, read from their objects. */
  asSource(): ImageSource & { store: Store } {
    const store = this;
    return {
      store,
      description: `store ${this.root}`,
      readBlob: (desc: Descriptor) => store.readBlob(desc.digest),
      openBlob: (desc: Descriptor) => store.openBlob(desc.digest),
    } satisfies ImageSource & { store: Store };
  }

  /** Whether a path is a symlink (blob and layer links are). */
  static async isLink(p: string): Promise<boolean> {
    try {
      return (await lstat(p)).isSymbolicLink();
    } catch {
      return false;
    }
  }
}
