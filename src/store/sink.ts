/**
 * The store as a copy sink. One sink is one operation: it holds the store lock shared, writes new
 * objects to its own staging folder, and on commit syncs, publishes objects and links, syncs, and
 * only then writes tags, so a tag never points at something missing. Abort removes the staging
 * folder, leaving the store exactly as it was.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcitoolError, withContext } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { isTarLayerType, layerCompression } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { BlobInfo, ImageSink, SinkRoot } from '../copy/transport.js';
import { createDecompressor } from '../compress/index.js';
import type { ObjectId } from '../verity/fsverity.js';
import type { Lock } from './lock.js';
import { Staging, type ObjectWriter } from './staging.js';
import { exists } from '../util/fs.js';
import type { Store } from './store.js';
import { TarSplitter } from './tar-split.js';
import { writeTag } from './tags.js';

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
  private publishing: Promise<void> = Promise.resolve();

  private constructor(private readonly store: Store, private readonly staging: Staging, private readonly lock: Lock, private readonly options: StoreSinkOptions) {
    this.description = `store ${store.root}`;
  }

  get scratchDir(): string { return this.staging.dir; }

  static async create(store: Store, options: StoreSinkOptions = {}): Promise<StoreSink> {
    const lock = await store.lockShared();
    try {
      return new StoreSink(store, await Staging.create(store.paths), lock, options);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** With keepVerified: sync what is staged, then publish it; one at a time. */
  private async publishVerified(): Promise<void> {
    if (!this.options.keepVerified) return;
    this.publishing = this.publishing.then(async () => {
      const taken = this.staging.take();
      if (taken.objects.length === 0 && taken.links.length === 0) return;
      await this.store.syncFilesystem(); // data on disk before any rename makes it visible
      await this.staging.publishTaken(taken);
    });
    await this.publishing;
  }

  async hasBlob(desc: Descriptor, info: BlobInfo): Promise<boolean> {
    const blobLink = this.store.paths.blob(desc.digest);
    if (!this.staging.hasLink(blobLink) && !(await exists(blobLink))) return false;
    if (info.kind === 'layer' && info.diffId && isTarLayerType(desc.mediaType)) {
      const layerLink = this.store.paths.layer(info.diffId);
      return this.staging.hasLink(layerLink) || exists(layerLink);
    }
    return true;
  }

  async readSmallBlob(desc: Descriptor): Promise<Buffer | undefined> {
    return this.store.readBlob(desc.digest).catch(() => undefined);
  }

  async writeSmallBlob(desc: Descriptor, raw: Buffer): Promise<void> {
    const id = await this.staging.storeBuffer(raw);
    this.staging.addLink(this.store.paths.blob(desc.digest), id);
    await this.publishVerified();
  }

  async writeBlob(desc: Descriptor, data: Readable, info: BlobInfo): Promise<void> {
    if (info.kind === 'layer' && isTarLayerType(desc.mediaType)) {
      await this.importLayer(desc, data, info.diffId);
    } else {
      const writer = this.staging.createObjectWriter();
      try {
        for await (const chunk of data) await writer.write(chunk as Buffer);
        this.staging.addLink(this.store.paths.blob(desc.digest), await writer.finish());
      } catch (err) {
        await writer.discard();
        throw err;
      }
    }
    await this.publishVerified();
  }

  /**
   * One pass over a layer: the compressed bytes go to the blob object while they are
   * decompressed, hashed for the diff_id and split into file objects.
   */
  private async importLayer(desc: Descriptor, data: Readable, expectedDiffId: Digest | undefined): Promise<void> {
    const what = `layer ${desc.digest}`;
    const blobWriter = this.staging.createObjectWriter();
    const diffHash = createHash('sha256');
    const splitter = new TarSplitter(this.staging, what);
    const compression = layerCompression(desc.mediaType)!;
    const decompressor = createDecompressor(compression);
    try {
      await pipeline(data, new TeeToObject(blobWriter), decompressor, new HashPassThrough(diffHash), splitter);
    } catch (err) {
      await blobWriter.discard();
      if (err instanceof OcitoolError) throw err;
      throw withContext(`${what}: ${compression === 'none' ? 'reading' : `${compression} decompression`} failed`, err);
    }
    const diffId = `sha256:${diffHash.digest('hex')}` as Digest;
    if (expectedDiffId && diffId !== expectedDiffId) {
      await blobWriter.discard();
      throw new OcitoolError('DIFFID_MISMATCH', `${what}: uncompressed content has digest ${diffId}, but the config's diff_ids says ${expectedDiffId}`, {
        details: { digest: desc.digest, expected: expectedDiffId, actual: diffId },
      });
    }
    const splitId = await splitter.finishSplit(diffId);
    const blobId = await blobWriter.finish();
    this.staging.addLink(this.store.paths.blob(desc.digest), blobId);
    this.staging.addLink(this.store.paths.layer(diffId), splitId);
    this.layers.push({ blobId, splitId, diffId, fileObjects: splitter.objectIds });
  }

  async commit(roots: SinkRoot[]): Promise<void> {
    if (this.done) throw new OcitoolError('STORE', 'store operation already finished');
    try {
      await this.publishing;
      if (!this.staging.isEmpty) {
        await this.store.syncFilesystem(); // object data on disk before any object is renamed into place
        await this.staging.publish();
      }
      await this.store.syncFilesystem(); // objects and links durable before a tag can name them
      for (const root of roots) {
        for (const name of root.names) {
          await writeTag(this.store.paths, { name, descriptor: root.descriptor, ...(root.presentChildren ? { presentChildren: root.presentChildren } : {}) }, this.staging.dir);
        }
      }
      if (roots.some((r) => r.names.length > 0)) await this.store.syncFilesystem();
    } finally {
      await this.finish();
    }
  }

  async abort(): Promise<void> {
    await this.finish();
  }

  private async finish(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.staging.remove().catch(() => {});
    await this.lock.release();
  }
}

/** Passes bytes on unchanged while writing them to an object. */
class TeeToObject extends Transform {
  constructor(private readonly writer: ObjectWriter) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.writer.writeSync(chunk);
    } catch (err) {
      done(err as Error);
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
