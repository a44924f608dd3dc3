/**
 * The store as a copy sink. One sink is one operation: it holds the store lock shared and writes
 * new objects to its own staging folder, one group per blob. A group is published only after its
 * blob passed its size, digest and diff_id checks (at once with keepVerified, else at commit):
 * sync, rename objects and links into place; commit then syncs and only then writes tags, so a
 * tag never points at something missing. Abort removes the staging folder: what was not
 * published is gone, the store is as it was (plus, with keepVerified, verified untagged blobs).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcitoolError, withContext } from '../errors.js';
import { digestAlgorithm, type Digest } from '../oci/digest.js';
import { isTarLayerType, layerCompression } from '../oci/media-types.js';
import { MAX_JSON_BYTES, type Descriptor } from '../oci/schemas.js';
import type { BlobInfo, ImageSink, SinkRoot } from '../copy/transport.js';
import { createDecompressor } from '../compress/index.js';
import { isEnoent } from '../util/fs.js';
import type { ObjectId } from '../verity/fsverity.js';
import { blobIntact, layerIntact } from './intact.js';
import type { Lock } from './lock.js';
import { StagingArea, type StagedGroup } from './staging.js';
import type { Store } from './store.js';
import { TarSplitter } from './tar-split.js';
import { ThreadedObjectWriter } from './file-objects.js';
import { writeTag } from './tags.js';
import { mergePresence, presenceOf, type Presence, type PresenceTree } from '../oci/graph.js';

export interface LayerImport {
  blobId: ObjectId;
  splitId: ObjectId;
  diffId: Digest;
  fileObjects: Set<ObjectId>;
}

export interface StoreSinkOptions {
  /**
   * Publish each blob as soon as it is verified (untagged until commit; `gc` removes it if the
   * operation never commits), so a pull that fails or is killed and is run again downloads only
   * what is missing. Imports from local files leave it off: a failed import changes nothing.
   */
  keepVerified?: boolean;
}

export class StoreSink implements ImageSink {
  readonly partialIndex = 'keep' as const;
  readonly description: string;
  /** Layers imported by this operation, for callers that report sharing. */
  readonly layers: LayerImport[] = [];
  private done = false;
  /** Verified groups waiting for commit (without keepVerified). */
  private readonly verified: StagedGroup[] = [];
  /** Blobs (`blob <digest> <size>`) and layers (`layer <diff_id>`) this operation wrote and verified, published or not. */
  private readonly written = new Set<string>();
  /** The same keys for what the store had and this operation checked and found intact. */
  private readonly checked = new Set<string>();
  private readonly publisher: BatchPublisher | undefined;

  private constructor(private readonly store: Store, private readonly staging: StagingArea, private readonly lock: Lock, private readonly options: StoreSinkOptions) {
    this.description = `store ${store.root}`;
    if (options.keepVerified) this.publisher = new BatchPublisher(staging, () => store.syncFilesystem());
  }

  static async create(store: Store, options: StoreSinkOptions = {}): Promise<StoreSink> {
    const lock = await store.lockShared('write');
    try {
      return new StoreSink(store, await StagingArea.create(store.paths), lock, options);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** This operation's staging folder: scratch files kept there are covered by its lock and removed with it. */
  get scratchDir(): string {
    return this.staging.dir;
  }

  /**
   * True only for what this operation wrote or what the store has intact (see intact.ts): a
   * damaged or truncated copy is fetched again, and the new copy replaces it.
   */
  async hasBlob(desc: Descriptor, info: BlobInfo): Promise<boolean> {
    if (!(await this.trusted(blobKey(desc), () => blobIntact(this.store.paths, desc.digest, desc.size)))) return false;
    if (info.kind === 'layer' && info.diffId && isTarLayerType(desc.mediaType)) {
      const diffId = info.diffId;
      return this.trusted(layerKey(diffId), () => layerIntact(this.store.paths, diffId));
    }
    return true;
  }

  /** A size is part of a blob's key: a descriptor naming a known digest with another size is not "present". */
  private async trusted(key: string, check: () => Promise<boolean>): Promise<boolean> {
    if (this.written.has(key) || this.checked.has(key)) return true;
    if (!(await check())) return false;
    this.checked.add(key);
    return true;
  }

  /**
   * The stored bytes of a small blob, or undefined when they are absent or do not match the
   * descriptor: the engine then fetches the blob from the source and the new copy replaces them.
   */
  async readSmallBlob(desc: Descriptor): Promise<Buffer | undefined> {
    if (desc.size > MAX_JSON_BYTES) return undefined;
    let handle;
    try {
      handle = await open(this.store.paths.blob(desc.digest), 'r');
    } catch (err) {
      if (isEnoent(err)) return undefined; // not published (yet): the engine reads the source
      throw withContext(`blob ${desc.digest} in ${this.description}`, err);
    }
    try {
      if ((await handle.stat()).size !== desc.size) return undefined;
      const data = await handle.readFile();
      const algorithm = digestAlgorithm(desc.digest);
      if (data.length !== desc.size || `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` !== desc.digest) return undefined;
      return data;
    } finally {
      await handle.close();
    }
  }

  async writeSmallBlob(desc: Descriptor, raw: Buffer): Promise<void> {
    const group = this.staging.group();
    try {
      group.addLink(this.store.paths.blob(desc.digest), await group.storeBuffer(raw));
    } catch (err) {
      await group.discard();
      throw err;
    }
    await this.admit(group, [blobKey(desc)]);
  }

  async writeBlob(desc: Descriptor, data: Readable, info: BlobInfo): Promise<void> {
    const group = this.staging.group();
    const keys = [blobKey(desc)];
    try {
      if (info.kind === 'layer' && isTarLayerType(desc.mediaType)) {
        keys.push(layerKey(await this.importLayer(group, desc, data, info.diffId)));
      } else {
        // Hashed and written on the file-object thread, as a layer's blob is; a failed blob's
        // temp file goes with the staging folder.
        const files = this.staging.fileObjects();
        const writer = new ThreadedObjectWriter(files);
        let blob;
        try {
          for await (const chunk of data) {
            writer.writeSync(chunk as Buffer);
            await files.belowLimit();
          }
          blob = await writer.finish();
        } catch (err) {
          throw err === files.failed ? withContext(`blob ${desc.digest}`, err) : err;
        }
        group.adoptStaged(blob.id, blob.temp);
        group.addLink(this.store.paths.blob(desc.digest), blob.id);
      }
    } catch (err) {
      // The blob failed a check (or its read failed): nothing split out of it may be published.
      await group.discard();
      throw err;
    }
    await this.admit(group, keys);
  }

  /**
   * A group whose blob passed every check: published now (keepVerified, batched with others
   * finishing at the same time under one sync) or at commit.
   */
  private async admit(group: StagedGroup, keys: string[]): Promise<void> {
    for (const key of keys) this.written.add(key);
    if (this.publisher) await this.publisher.publish(group);
    else this.verified.push(group);
  }

  /**
   * One pass over a layer: the compressed bytes go to the blob object while they are
   * decompressed, hashed for the diff_id and split into file objects, all in the layer's group.
   */
  private async importLayer(group: StagedGroup, desc: Descriptor, data: Readable, expectedDiffId: Digest | undefined): Promise<Digest> {
    const what = `layer ${desc.digest}`;
    // A failed layer leaves the blob's temp file to the staging folder's removal.
    const blobWriter = new ThreadedObjectWriter(this.staging.fileObjects());
    const diffHash = createHash('sha256');
    const splitter = new TarSplitter(group, what);
    const compression = layerCompression(desc.mediaType)!;
    const decompressor = createDecompressor(compression);
    // Two pipelines, so that a blob that fails to decompress is still read to its end: if its
    // digest is wrong, that is the failure to report (the bytes are not the published ones), not
    // the decompressor's complaint about them, whichever of the two notices first.
    const feed = new FeedUntilFailed(decompressor);
    const [read, unpacked] = await Promise.allSettled([
      pipeline(data, new TeeToObject(blobWriter, what), feed).catch((err: unknown) => {
        decompressor.destroy(); // nothing more is coming: the other pipeline must not wait for it
        throw err;
      }),
      pipeline(decompressor, new HashPassThrough(diffHash), splitter).catch((err: unknown) => {
        feed.failed = true;
        throw err;
      }),
    ]);
    if (read.status === 'rejected') throw read.reason instanceof OcitoolError ? read.reason : withContext(`${what}: reading failed`, read.reason);
    if (unpacked.status === 'rejected') {
      const err = unpacked.reason;
      if (err instanceof OcitoolError) throw err;
      throw withContext(`${what}: ${compression === 'none' ? 'reading' : `${compression} decompression`} failed`, err);
    }
    const diffId = `sha256:${diffHash.digest('hex')}` as Digest;
    if (expectedDiffId && diffId !== expectedDiffId) {
      throw new OcitoolError('DIFFID_MISMATCH', `${what}: uncompressed content has digest ${diffId}, but the config's diff_ids says ${expectedDiffId}`, {
        details: { digest: desc.digest, expected: expectedDiffId, actual: diffId },
      });
    }
    const splitId = await splitter.finishSplit(diffId);
    const blob = await blobWriter.finish().catch((err: unknown) => {
      throw withContext(what, err);
    });
    group.adoptStaged(blob.id, blob.temp);
    const blobId = blob.id;
    group.addLink(this.store.paths.blob(desc.digest), blobId);
    group.addLink(this.store.paths.layer(diffId), splitId);
    this.layers.push({ blobId, splitId, diffId, fileObjects: splitter.objectIds });
    return diffId;
  }

  /**
   * Crash order: staged temp files, syncfs, renames into objects/ and links, syncfs, tags (temp
   * file, rename), syncfs. A tag is only written once everything it reaches is durable.
   */
  async commit(roots: SinkRoot[]): Promise<void> {
    if (this.done) throw new OcitoolError('STORE', 'store operation already finished');
    try {
      await this.publisher?.idle();
      if (this.verified.length > 0) {
        await this.store.syncFilesystem(); // object data on disk before any object is renamed into place
        await this.staging.publish(this.verified.splice(0));
      }
      await this.store.syncFilesystem(); // objects and links durable before a tag can name them
      for (const root of roots) {
        for (const name of root.names) {
          const presence = await this.presenceToRecord(name, root);
          await writeTag(this.store.paths, { name, descriptor: root.descriptor, ...(presence ? { presentChildren: presence } : {}) }, this.staging.dir);
        }
      }
      if (roots.some((r) => r.names.length > 0)) await this.store.syncFilesystem();
    } catch (err) {
      await this.finishAfterFailure(err);
    }
    await this.finish();
  }

  /**
   * A second partial copy of the same index adds to what the tag holds: pulling arm64 after
   * amd64 keeps both (a replaced presence would let gc delete the first platform).
   */
  private async presenceToRecord(name: string, root: SinkRoot): Promise<PresenceTree | undefined> {
    if (!root.presentChildren) return undefined;
    // A tag file that is there but cannot be parsed is replaced whole (fsck reports such tags);
    // an I/O error reading it is an error.
    const existing = await this.store.readTag(name).catch((err: unknown) => {
      if (err instanceof OcitoolError && (err.code === 'JSON_INVALID' || err.code === 'STORE_CORRUPT')) return undefined;
      throw err;
    });
    if (!existing || existing.descriptor.digest !== root.descriptor.digest || existing.presentChildren === undefined) return root.presentChildren;
    const merged = mergePresence(presenceOf(existing.presentChildren), root.presentChildren);
    return merged === true || merged === 'held' ? undefined : asTree(merged);
  }

  async abort(): Promise<void> {
    await this.publisher?.idle(); // no rename may run while the staging folder is removed
    await this.finish();
  }

  private async finish(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.staging.remove();
    } finally {
      await this.lock.release();
    }
  }

  /** Cleans up after a failed commit and throws the failure, naming a cleanup failure too. */
  private async finishAfterFailure(err: unknown): Promise<never> {
    try {
      await this.finish();
    } catch (cleanup) {
      const base = err instanceof OcitoolError ? err : withContext(this.description, err);
      throw new OcitoolError(base.code, `${base.message} (cleaning up ${this.staging.dir} failed too: ${(cleanup as Error).message})`, { cause: err, details: base.details });
    }
    throw err;
  }
}

const blobKey = (desc: Descriptor) => `blob ${desc.digest} ${desc.size}`;
const layerKey = (diffId: Digest) => `layer ${diffId}`;

/**
 * Publishes verified groups with one syncfs per batch: the groups that finish while a sync runs
 * wait for the next one together, so parallel downloads never queue one sync each, and the
 * event loop is never blocked by one (the sync is a child process).
 */
class BatchPublisher {
  private queue: Array<{ group: StagedGroup; resolve: () => void; reject: (err: unknown) => void }> = [];
  private running: Promise<void> | undefined;

  constructor(private readonly staging: StagingArea, private readonly sync: () => Promise<void>) {}

  publish(group: StagedGroup): Promise<void> {
    if (group.isEmpty) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ group, resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves once nothing is being published. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      try {
        await this.sync(); // the batch's data on disk before any rename makes it visible
        await this.staging.publish(batch.map((b) => b.group));
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.running = undefined;
  }
}

/**
 * Writes into the decompressor, with its backpressure, until the decompressing side has failed;
 * after that, takes the rest of the input and drops it (it is still verified upstream).
 */
class FeedUntilFailed extends Writable {
  failed = false;
  constructor(private readonly target: Writable) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.failed || this.target.destroyed) {
      done();
      return;
    }
    if (this.target.write(chunk)) {
      done();
      return;
    }
    const settle = () => {
      this.target.off('drain', settle);
      this.target.off('close', settle);
      done();
    };
    this.target.on('drain', settle);
    this.target.on('close', settle);
  }
  override _final(done: (err?: Error | null) => void): void {
    if (!this.failed && !this.target.destroyed) this.target.end();
    done();
  }
}

/** Passes bytes on unchanged while writing them to an object. */
class TeeToObject extends Transform {
  constructor(private readonly writer: { writeSync(chunk: Buffer): void }, private readonly what: string) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.writer.writeSync(chunk);
    } catch (err) {
      done(withContext(this.what, err));
      return;
    }
    done(null, chunk);
  }
}

/**
 * Hashes the decompressed bytes for the diff_id. The work is deferred by one tick on purpose:
 * zlib schedules its next chunk on the threadpool only after the downstream handler returns, so
 * hashing and splitting inline would alternate with decompression instead of overlapping it
 * (measured: 0.64 s -> see bench/import.ts for a 64 MiB gzip layer).
 */
class HashPassThrough extends Transform {
  constructor(private readonly hash: ReturnType<typeof createHash>) {
    super({ highWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    setImmediate(() => {
      this.hash.update(chunk);
      done(null, chunk);
    });
  }
}

/** A presence as a tag records it: children of an old flat list ('held') become `true`. */
function asTree(presence: Exclude<Presence, true | 'held'>): PresenceTree {
  return Object.fromEntries(Object.entries(presence).map(([d, sub]) => [d, sub === true || sub === 'held' ? true : asTree(sub)])) as PresenceTree;
}
