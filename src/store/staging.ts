/**
 * Per-operation staging. New objects are written under staging/<op>/ and only renamed into
 * objects/ by `publish`, after one filesystem sync: so a failed or killed operation never leaves
 * a half-written object, and a published object always has its bytes on disk.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import { exists } from '../util/fs.js';
import path from 'node:path';
import { FsVerityHasher, type ObjectId } from '../verity/fsverity.js';
import type { StorePaths } from './paths.js';

export interface StagedSet {
  objects: Array<[ObjectId, string]>;
  links: Array<[string, ObjectId]>;
}

export class Staging {
  readonly dir: string;
  /** Objects written by this operation and not yet published: id -> staged file. */
  private readonly pending = new Map<ObjectId, string>();
  /** Links to create at publish: link path -> object id. */
  private readonly links = new Map<string, ObjectId>();
  private counter = 0;

  constructor(readonly paths: StorePaths, readonly opId: string) {
    this.dir = path.join(paths.staging, opId);
  }

  static async create(paths: StorePaths): Promise<Staging> {
    const opId = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const staging = new Staging(paths, opId);
    await mkdir(staging.dir, { recursive: true });
    return staging;
  }

  /** True when the object is in the store or staged by this operation. */
  async hasObject(id: ObjectId): Promise<boolean> {
    if (this.pending.has(id)) return true;
    return exists(this.paths.object(id));
  }

  /** Stores a small buffer as an object; an object that already exists counts as written. */
  async storeBuffer(data: Buffer): Promise<ObjectId> {
    const id = new FsVerityHasher().update(data).hex();
    if (await this.hasObject(id)) return id;
    const file = this.nextTempName();
    writeFileSync(file, data); // page-cache copy; see ObjectWriter on why not async
    this.pending.set(id, file);
    return id;
  }

  createObjectWriter(): ObjectWriter {
    return new ObjectWriter(this, this.nextTempName());
  }

  /** Records that `linkPath` (under blobs/ or layers/) must point at `id` once published. */
  addLink(linkPath: string, id: ObjectId): void {
    this.links.set(linkPath, id);
  }

  hasLink(linkPath: string): boolean {
    return this.links.has(linkPath);
  }

  /** @internal used by ObjectWriter */
  async adopt(id: ObjectId, file: string): Promise<void> {
    if (await this.hasObject(id)) {
      await rm(file, { force: true });
      return;
    }
    this.pending.set(id, file);
  }

  get isEmpty(): boolean {
    return this.pending.size === 0 && this.links.size === 0;
  }

  /**
   * Moves staged objects into objects/ and creates links. The caller syncs the filesystem
   * before (so every renamed object has its data on disk) and after (so links are durable).
   * rename() replaces atomically: a concurrent writer of the same object wrote the same bytes.
   */
  async publish(): Promise<void> {
    await this.publishTaken(this.take());
  }

  /** Takes what is staged now out of staging, for a caller that syncs before publishing it. */
  take(): StagedSet {
    const taken = { objects: [...this.pending], links: [...this.links] };
    this.pending.clear();
    this.links.clear();
    return taken;
  }

  /** Renames taken objects into objects/, then creates the taken links (symlink to temp, rename). */
  async publishTaken(taken: StagedSet): Promise<void> {
    for (const [id, file] of taken.objects) {
      const target = this.paths.object(id);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(file, target);
    }
    for (const [linkPath, id] of taken.links) {
      await mkdir(path.dirname(linkPath), { recursive: true });
      const temp = this.nextTempName();
      await symlink(this.paths.linkTarget(id), temp);
      await rename(temp, linkPath);
    }
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private nextTempName(): string {
    return path.join(this.dir, `t${this.counter++}`);
  }
}

/**
 * Streams one object into staging, computing its fs-verity id as bytes are written. Writes are
 * synchronous on purpose: they only copy into the page cache (durability comes from the one
 * syncfs at commit), and measured on a 64 MiB gzip layer, awaiting a threadpool round trip per
 * chunk left the main thread idle a third of the time while gunzip waited for it.
 */
export class ObjectWriter {
  private fd: number | undefined;
  private readonly hasher = new FsVerityHasher();
  size = 0;

  constructor(private readonly staging: Staging, private readonly file: string) {}

  async write(chunk: Buffer): Promise<void> {
    this.writeSync(chunk);
  }

  writeSync(chunk: Buffer): void {
    this.fd ??= openSync(this.file, 'w');
    this.hasher.update(chunk);
    this.size += chunk.length;
    let offset = 0;
    while (offset < chunk.length) offset += writeSync(this.fd, chunk, offset, chunk.length - offset);
  }

  async finish(): Promise<ObjectId> {
    this.fd ??= openSync(this.file, 'w');
    closeSync(this.fd);
    this.fd = undefined;
    const id = this.hasher.hex();
    await this.staging.adopt(id, this.file);
    return id;
  }

  async discard(): Promise<void> {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    this.fd = undefined;
    await rm(this.file, { force: true });
  }
}
