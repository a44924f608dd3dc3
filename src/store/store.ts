/**
 * The content-addressed store: immutable objects named by fs-verity digest, OCI blobs kept
 * byte-exact and found by digest, tar layers split into file objects, and tags. It knows OCI
 * blobs and tar layers but no transport. Format: docs/store-format.md.
 */
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod/v3';
import { OcitoolError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { MAX_JSON_BYTES, parseJson, type Descriptor } from '../oci/schemas.js';
import type { ImageSource } from '../copy/transport.js';
import { defaultStoreDir, StorePaths } from './paths.js';
import { openSplitStream } from './split-stream.js';
import { listTags, readAllTags, readTag, removeTag, tagExists, type BadTag, type TagRecord } from './tags.js';
import { acquireExclusive, acquireShared, LOCK_FILE, readOnlyStoreError, type Lock, type LockOptions } from './lock.js';
import { exists, isEnoent, isReadOnlyError } from '../util/fs.js';
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
  /** Seconds to wait for the lock (`--wait`); default DEFAULT_LOCK_WAIT_SECONDS. */
  lockWaitSeconds?: number;
  /** What this process is, for other processes' lock messages, e.g. "ocitool gc". */
  command?: string;
}

/** What a store folder may hold while it is being created (meta.json: another creator just linked it). */
const STORE_ENTRIES = new Set(['meta.json', 'objects', 'blobs', 'layers', 'tags', 'staging', 'locks']);
/** meta.json is written under this name first; a creator killed before linking it leaves one (gc removes it). */
export const META_TEMP_PREFIX = '.meta.json.tmp-';

export class Store {
  private constructor(readonly paths: StorePaths, readonly options: StoreOptions) {}

  /**
   * Opens the store at `root` (default location when absent), creating it when new. A folder that
   * holds anything else and no meta.json is refused: it is not a store.
   */
  static async open(root: string = defaultStoreDir(), options: StoreOptions = {}): Promise<Store> {
    const paths = new StorePaths(root);
    let raw = await readMeta(paths);
    if (!raw) {
      await createStore(paths);
      raw = await readMeta(paths);
      if (!raw) throw new OcitoolError('STORE', `store ${root}: meta.json vanished while the store was created`);
    }
    const meta = parseJson(raw, MetaSchema, `store ${paths.meta}`);
    if (meta.version > STORE_FORMAT_VERSION) throw new OcitoolError('STORE', `store ${root} has format version ${meta.version}; this ocitool reads up to ${STORE_FORMAT_VERSION}`);
    const unknown = meta.features.incompatible.filter((f) => !KNOWN_INCOMPATIBLE.includes(f));
    if (unknown.length) throw new OcitoolError('STORE', `store ${root} uses features this ocitool does not know: ${unknown.join(', ')}`);
    return new Store(paths, options);
  }

  get root(): string {
    return this.paths.root;
  }

  private lockOptions(access: 'read' | 'write'): LockOptions {
    return { access, waitSeconds: this.options.lockWaitSeconds, onWait: this.options.onLockWait, command: this.options.command };
  }

  /**
   * Holds the lock shared: any number of readers and writers of new content, but no gc. 'read'
   * (images, inspect, save, fsck) works on a read-only store; 'write' refuses one with
   * "store DIR is read-only" before anything is written.
   */
  async lockShared(access: 'read' | 'write' = 'read'): Promise<Lock> {
    if (access === 'write') await this.assertWritable();
    return acquireShared(this.paths.locks, this.lockOptions(access));
  }

  /** Holds the lock exclusive (gc): no other process reads or writes the store meanwhile. */
  async lockExclusive(): Promise<Lock> {
    await this.assertWritable();
    return acquireExclusive(this.paths.locks, this.lockOptions('write'));
  }

  /** Throws "store DIR is read-only" when the folders a write touches cannot be written. */
  async assertWritable(): Promise<void> {
    for (const dir of [this.paths.staging, this.paths.objects, this.paths.blobs, this.paths.layers, this.paths.tags, this.paths.locks]) {
      try {
        await access(dir, constants.W_OK);
      } catch (err) {
        if (isReadOnlyError(err)) throw readOnlyStoreError(this.root, err);
        if (isEnoent(err)) continue; // created on first use (mkdir -p)
        throw new OcitoolError('STORE', `store ${this.root}: ${dir}: ${(err as Error).message}`, { cause: err });
      }
    }
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
      if (isEnoent(err)) throw new OcitoolError('BLOB_MISSING', `blob ${digest} is not in the store`, { cause: err });
      throw new OcitoolError('IO', `blob ${digest} (${file}): ${(err as Error).message}`, { cause: err });
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

  /** Every readable tag and every tag file that cannot be read (never skipped silently). */
  readAllTags(): Promise<{ tags: TagRecord[]; bad: BadTag[] }> {
    return readAllTags(this.paths);
  }

  readTag(name: string): Promise<TagRecord | undefined> {
    return readTag(this.paths, name);
  }

  /** Removes tags (all or, when one is missing, none); the objects stay until `gc`. */
  async removeTags(names: string[]): Promise<void> {
    const lock = await this.lockShared('write');
    try {
      for (const name of names) {
        if (!(await tagExists(this.paths, name))) throw new OcitoolError('NOT_FOUND', `no image named ${name} in the store`);
      }
      for (const name of names) await removeTag(this.paths, name);
    } finally {
      await lock.release();
    }
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
}

async function readMeta(paths: StorePaths): Promise<Buffer | undefined> {
  try {
    return await readFile(paths.meta);
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw new OcitoolError('STORE', `store ${paths.root}: ${paths.meta}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Creates a store: folders and lock file first, meta.json last and whole (temp file, fsync,
 * link into place), so a concurrent opener sees either no meta.json (and creates the same
 * folders) or a complete one; link() fails with EEXIST for every creator but one, harmlessly.
 */
async function createStore(paths: StorePaths): Promise<void> {
  const root = paths.root;
  let entries: string[] = [];
  try {
    entries = await readdir(root);
  } catch (err) {
    if (!isEnoent(err)) throw new OcitoolError('STORE', `store ${root}: ${(err as Error).message}`, { cause: err });
  }
  const foreign = entries.filter((e) => !STORE_ENTRIES.has(e) && !e.startsWith(META_TEMP_PREFIX));
  if (foreign.length) {
    throw new OcitoolError('STORE', `${root} is not an ocitool store (no meta.json, and it holds ${JSON.stringify(foreign[0])}${foreign.length > 1 ? ` and ${foreign.length - 1} more` : ''}); give --store an empty or new folder`);
  }
  const temp = path.join(root, `${META_TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    for (const dir of [paths.objects, paths.blobs, paths.layers, paths.tags, paths.staging, paths.locks]) await mkdir(dir, { recursive: true });
    await (await open(path.join(paths.locks, LOCK_FILE), 'a', 0o666)).close();
    const meta = { version: STORE_FORMAT_VERSION, objectAlgorithm: 'fsverity-sha256', features: { compatible: [], readOnlyCompatible: [], incompatible: [] } };
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(JSON.stringify(meta, null, 2) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, paths.meta);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another opener created it first: same content
    }
    await syncFilesystem(root);
  } catch (err) {
    if (isReadOnlyError(err)) throw readOnlyStoreError(root, err);
    throw err instanceof OcitoolError ? err : new OcitoolError('STORE', `store ${root}: cannot create it: ${(err as Error).message}`, { cause: err });
  } finally {
    await rm(temp, { force: true });
  }
}
