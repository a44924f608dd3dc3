/**
 * Per-operation staging. New objects are written under staging/<op>/ as temp files and only
 * renamed into objects/ by `publish`, after one filesystem sync: so a failed or killed operation
 * never leaves a half-written object, and a published object always has its bytes on disk.
 *
 * Each blob gets its own group (`StagedGroup`): the objects split out of one layer are published
 * only with that layer, after its size, digest and diff_id checks passed, never because another
 * blob finished first.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { FsVerityHasher, type ObjectId } from '../verity/fsverity.js';
import { sameContent } from './same-content.js';
import { FileObjectThread } from './file-objects.js';
import type { StorePaths } from './paths.js';

/**
 * One operation's staging folder: temp names, groups, publishing, removal.
 *
 * Speed on layers of thousands of small files comes from doing per-file work without thread-pool
 * round trips: file objects are hashed and staged by the operation's file-object thread
 * (file-objects.ts), which lists the objects the store holds once (one readdir per fan-out folder)
 * instead of an access() per object; the renames at publish are synchronous page-cache operations
 * that take microseconds. The listing is a hint, never trusted: an object it names is compared
 * byte for byte before it is reused, and one it misses (written by a concurrent operation since)
 * is simply written again and renamed over the same bytes. gc cannot remove objects meanwhile: it
 * needs the exclusive lock.
 */
export class StagingArea {
  readonly dir: string;
  private counter = 0;
  private readonly fanOuts = new Set<string>();
  private fileObjectThread: FileObjectThread | undefined;

  constructor(readonly paths: StorePaths, readonly opId: string) {
    this.dir = path.join(paths.staging, opId);
  }

  static async create(paths: StorePaths): Promise<StagingArea> {
    const opId = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const area = new StagingArea(paths, opId);
    await mkdir(area.dir, { recursive: true });
    return area;
  }

  /** A new group for the objects and links of one blob. */
  group(): StagedGroup {
    return new StagedGroup(this);
  }

  /** The thread that hashes and stages split-out file contents (file-objects.ts), started once. */
  fileObjects(): FileObjectThread {
    return (this.fileObjectThread ??= new FileObjectThread({ objectsDir: this.paths.objects, stagingDir: this.dir }));
  }

  /** A fresh file name in the staging folder. */
  tempName(): string {
    return path.join(this.dir, `t${this.counter++}`);
  }

  /**
   * Renames the groups' objects into objects/, then creates their links (symlink to temp, rename).
   * The caller synced the filesystem before (so every renamed object has its data on disk) and
   * syncs after (so renames and links are durable). rename() replaces atomically: an object
   * already there is either the same bytes (a concurrent writer) or damaged, and replacing a
   * damaged one with verified bytes repairs it.
   */
  async publish(groups: StagedGroup[]): Promise<void> {
    const dirs = new Set<string>();
    const ensureDir = (dir: string) => {
      if (dirs.has(dir)) return;
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    };
    // Synchronous on purpose (see the class comment): thousands of renames, microseconds each.
    for (const group of groups) {
      for (const [id, file] of group.objects) {
        const fan = id.slice(0, 2);
        if (!this.fanOuts.has(fan)) {
          mkdirSync(path.join(this.paths.objects, fan), { recursive: true });
          this.fanOuts.add(fan);
        }
        renameSync(file, this.paths.object(id));
      }
    }
    for (const group of groups) {
      for (const [linkPath, id] of group.links) {
        ensureDir(path.dirname(linkPath));
        const temp = this.tempName();
        symlinkSync(this.paths.linkTarget(id), temp);
        renameSync(temp, linkPath);
      }
    }
  }

  /** Removes the staging folder; only a folder that is already gone is not an error. */
  async remove(): Promise<void> {
    await this.fileObjectThread?.stop(); // no temp file may be written after the folder is gone
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The objects and links of one blob, staged until that blob is verified. Only this group's own
 * staged objects count as "already written": an identical object staged by another group may
 * still be discarded with its (unverified) blob, so each group keeps its own copy.
 */
export class StagedGroup {
  /** Objects written for this blob and not yet published: id -> staged file. */
  private readonly pending = new Map<ObjectId, string>();
  /** Links to create at publish: link path -> object id. */
  private readonly linkMap = new Map<string, ObjectId>();

  constructor(readonly area: StagingArea) {}

  get objects(): ReadonlyMap<ObjectId, string> {
    return this.pending;
  }

  get links(): ReadonlyMap<string, ObjectId> {
    return this.linkMap;
  }

  /**
   * Stores a small buffer as an object. An object the store already has is not written again,
   * but only when its bytes are these bytes: a damaged one (other size or content) is replaced.
   */
  async storeBuffer(data: Buffer): Promise<ObjectId> {
    const id = new FsVerityHasher().update(data).hex();
    // A few manifests, configs and images per operation: one open of the object's name each.
    if (this.pending.has(id) || sameContent(this.area.paths.object(id), data)) return id;
    const file = this.area.tempName();
    writeFileSync(file, data); // page-cache copy; see ObjectWriter on why not async
    this.pending.set(id, file);
    return id;
  }

  createObjectWriter(): ObjectWriter {
    return new ObjectWriter(this, this.area.tempName());
  }

  /** Records that `linkPath` (under blobs/ or layers/) must point at `id` once published. */
  addLink(linkPath: string, id: ObjectId): void {
    this.linkMap.set(linkPath, id);
  }

  hasLink(linkPath: string): boolean {
    return this.linkMap.has(linkPath);
  }

  get isEmpty(): boolean {
    return this.pending.size === 0 && this.linkMap.size === 0;
  }

  /**
   * @internal used by ObjectWriter. The bytes are already in a temp file, so even when the store
   * has this object the temp file is kept and renamed over it at publish: that costs a rename and
   * repairs an object that was damaged in place.
   */
  async adopt(id: ObjectId, file: string): Promise<void> {
    if (this.pending.has(id)) {
      rmSync(file, { force: true });
      return;
    }
    this.pending.set(id, file);
  }

  /**
   * Takes an object staged by the file-object thread: `temp` null means the store holds these
   * exact bytes; a second copy of an object this group already staged is removed.
   */
  adoptStaged(id: ObjectId, temp: string | null): void {
    if (temp === null) return;
    if (this.pending.has(id)) rmSync(temp, { force: true });
    else this.pending.set(id, temp);
  }

  /** Deletes the group's staged files (its blob failed verification); nothing of it is published. */
  async discard(): Promise<void> {
    const files = [...this.pending.values()];
    this.pending.clear();
    this.linkMap.clear();
    for (const file of files) await rm(file, { force: true });
  }
}

/**
 * The name tar-split.ts knows the group by: everything it calls (createObjectWriter, adoptStaged,
 * area) is a group method.
 */
export type Staging = StagedGroup;

/**
 * Streams one object into staging, computing its fs-verity id as bytes are written. Writes are
 * synchronous on purpose: they only copy into the page cache (durability comes from the one
 * syncfs before publishing), and measured on a 64 MiB gzip layer, awaiting a threadpool round
 * trip per chunk left the main thread idle a third of the time while gunzip waited for it.
 */
export class ObjectWriter {
  private fd: number | undefined;
  private readonly hasher = new FsVerityHasher();
  size = 0;

  constructor(private readonly group: StagedGroup, private readonly file: string) {}

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
    await this.group.adopt(id, this.file);
    return id;
  }

  async discard(): Promise<void> {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      closeSync(fd);
    }
    await rm(this.file, { force: true });
  }
}
