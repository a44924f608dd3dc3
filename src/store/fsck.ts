/**
 * fsck: re-hashes every object (fs-verity, and sha256 for blobs, in one read), checks every link,
 * reassembles every split layer against its diff_id, reads every tag and walks what the readable
 * ones reach. It collects every problem instead of stopping at the first.
 *
 * With `repair`, it holds the store lock exclusive and removes what is corrupt: objects whose
 * bytes do not match their name, and every blob or layer link that is dangling, names a removed
 * object, or does not give back its digest. The next pull or import then fetches those again
 * (it skips only what it finds intact). Tags are never removed: a tag's image is made whole
 * again by the next pull or import of it; an unreadable tag is left for the user to look at.
 */
import type { Lock } from './lock.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { isEnoent, listNames } from '../util/fs.js';
import { FsVerityHasher, isObjectId, type ObjectId } from '../verity/fsverity.js';
import { linkedObject } from './links.js';
import { computeReach, type Problem } from './reach.js';
import { openSplitStream } from './split-stream.js';
import type { Store } from './store.js';
import { readAllTags, type TagRecord } from './tags.js';

export interface FsckOptions {
  /** Remove corrupt objects and the links that name them or do not match (exclusive lock). */
  repair?: boolean;
}

export interface Removal {
  path: string;
  reason: string;
}

export interface FsckResult {
  objects: number;
  blobs: number;
  layers: number;
  tags: number;
  problems: Problem[];
  /** What `repair` removed, in order (links first, then objects). */
  removed: Removal[];
}

export async function fsck(store: Store, options: FsckOptions = {}): Promise<FsckResult> {
  const lock: Lock = options.repair ? await store.lockExclusive() : await store.lockShared('read');
  try {
    const check = new Check(store);
    await check.run();
    const removed = options.repair ? await check.repair() : [];
    return { ...check.counts, problems: check.problems, removed };
  } finally {
    await lock.release();
  }
}

class Check {
  readonly problems: Problem[] = [];
  readonly counts = { objects: 0, blobs: 0, layers: 0, tags: 0 };
  /** Objects whose bytes do not hash to their name. */
  private readonly corruptObjects = new Set<ObjectId>();
  /** Links to remove on repair: link path -> why. */
  private readonly badLinks = new Map<string, string>();
  /** Which object each blob or layer link names. */
  private readonly linkObject = new Map<string, ObjectId>();

  constructor(private readonly store: Store) {}

  async run(): Promise<void> {
    const blobsOf = await this.checkBlobLinks();
    await this.checkObjects(blobsOf);
    await this.checkLayers();
    await this.checkTags();
  }

  private problem(kind: string, object: string, message: string): void {
    this.problems.push({ kind, object, message });
  }

  /** Lists a folder, reporting (not throwing) a folder that cannot be read. */
  private async names(dir: string): Promise<string[]> {
    try {
      return await listNames(dir);
    } catch (err) {
      this.problem('unreadable-folder', dir, `folder ${dir} cannot be read: ${(err as Error).message}`);
      return [];
    }
  }

  /** Every blob link; returns which blob digests each object must also match, so each file is read once. */
  private async checkBlobLinks(): Promise<Map<ObjectId, Digest[]>> {
    const paths = this.store.paths;
    const blobsOf = new Map<ObjectId, Digest[]>();
    for (const algorithm of await this.names(paths.blobs)) {
      for (const hex of await this.names(path.join(paths.blobs, algorithm))) {
        this.counts.blobs++;
        const digest = `${algorithm}:${hex}` as Digest;
        const link = path.join(paths.blobs, algorithm, hex);
        const id = await this.linked(link, `blob ${digest}`);
        if (!id) continue;
        blobsOf.set(id, [...(blobsOf.get(id) ?? []), digest]);
      }
    }
    return blobsOf;
  }

  /** The object a link names, reporting a link that is unreadable, not a store link, or dangling. */
  private async linked(link: string, what: string): Promise<ObjectId | undefined> {
    let id: ObjectId | undefined;
    try {
      id = await linkedObject(link);
    } catch (err) {
      this.problem('unreadable-link', link, `${what}: link ${link} cannot be read: ${(err as Error).message}`);
      return undefined;
    }
    if (!id) {
      this.problem('bad-link', link, `${what}: ${link} is not a link to an object`);
      this.badLinks.set(link, 'not a link to an object');
      return undefined;
    }
    this.linkObject.set(link, id);
    try {
      await stat(this.store.paths.object(id));
      return id;
    } catch (err) {
      if (!isEnoent(err)) {
        this.problem('unreadable-object', id, `${what}: object ${id}: ${(err as Error).message}`);
        return undefined;
      }
    }
    this.problem('dangling-link', link, `${what} links to a missing object ${id}`);
    this.badLinks.set(link, `links to missing object ${id}`);
    return undefined;
  }

  private async checkObjects(blobsOf: Map<ObjectId, Digest[]>): Promise<void> {
    const paths = this.store.paths;
    for (const fan of await this.names(paths.objects)) {
      for (const name of await this.names(path.join(paths.objects, fan))) {
        this.counts.objects++;
        const file = path.join(paths.objects, fan, name);
        const id = `${fan}${name}`;
        if (!isObjectId(id)) {
          this.problem('corrupt-object', file, `object ${file} is not named by an object digest`);
          this.corruptObjects.add(id as ObjectId);
          continue;
        }
        const verity = new FsVerityHasher();
        const wanted = blobsOf.get(id) ?? [];
        const hashes = wanted.map((d) => createHash(d.slice(0, d.indexOf(':'))));
        try {
          for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
            verity.update(chunk as Buffer);
            for (const h of hashes) h.update(chunk as Buffer);
          }
        } catch (err) {
          this.problem('unreadable-object', id, `object ${id}: ${(err as Error).message}`);
          continue;
        }
        const actual = verity.hex();
        if (actual !== id) {
          this.problem('corrupt-object', id, `object ${file} is corrupt: fs-verity digest is ${actual}`);
          this.corruptObjects.add(id);
        }
        wanted.forEach((d, i) => {
          const got = `${d.slice(0, d.indexOf(':'))}:${hashes[i]!.digest('hex')}`;
          if (got !== d) {
            this.problem('corrupt-blob', d, `blob ${d} is corrupt: its bytes hash to ${got}`);
            this.badLinks.set(paths.blob(d), `its bytes hash to ${got}`);
          }
        });
      }
    }
  }

  private async checkLayers(): Promise<void> {
    const paths = this.store.paths;
    for (const algorithm of await this.names(paths.layers)) {
      for (const hex of await this.names(path.join(paths.layers, algorithm))) {
        this.counts.layers++;
        const diffId = `${algorithm}:${hex}` as Digest;
        const link = path.join(paths.layers, algorithm, hex);
        const id = await this.linked(link, `layer ${diffId}`);
        if (!id) continue;
        const hash = createHash('sha256');
        try {
          for await (const chunk of openSplitStream(link, (object) => paths.object(object))) hash.update(chunk as Buffer);
          const got = `sha256:${hash.digest('hex')}`;
          if (got !== diffId) {
            this.problem('corrupt-layer', diffId, `layer ${diffId} reassembles to ${got}`);
            this.badLinks.set(link, `reassembles to ${got}`);
          }
        } catch (err) {
          this.problem('corrupt-layer', diffId, `layer ${diffId}: ${(err as Error).message}`);
          this.badLinks.set(link, (err as Error).message);
        }
      }
    }
  }

  /** Every tag file (unreadable ones are problems), then the graph of every readable one. */
  private async checkTags(): Promise<void> {
    let tags: TagRecord[];
    try {
      const all = await readAllTags(this.store.paths);
      tags = all.tags;
      this.counts.tags = all.tags.length + all.bad.length;
      for (const bad of all.bad) this.problem('bad-tag', bad.name, `tag ${bad.name} (${bad.file}) cannot be read: ${bad.message}`);
    } catch (err) {
      this.problem('unreadable-folder', this.store.paths.tags, (err as Error).message);
      return;
    }
    // The readable tags (store.listTags() would refuse a store with any unreadable one), so their
    // images are checked too.
    try {
      this.problems.push(...(await computeReach(this.store, tags)).problems);
    } catch (err) {
      this.problem('corrupt-image', this.store.root, `walking the tagged images failed: ${(err as Error).message}`);
    }
  }

  /** Removes bad links (and links to corrupt objects), then corrupt objects; returns each removal. */
  async repair(): Promise<Removal[]> {
    const removed: Removal[] = [];
    for (const [link, id] of this.linkObject) {
      if (this.corruptObjects.has(id) && !this.badLinks.has(link)) this.badLinks.set(link, `links to corrupt object ${id}`);
    }
    for (const [link, reason] of this.badLinks) {
      await rm(link, { force: true });
      removed.push({ path: link, reason });
    }
    for (const id of this.corruptObjects) {
      const file = this.store.paths.object(id);
      await rm(file, { force: true });
      removed.push({ path: file, reason: 'corrupt object' });
    }
    if (removed.length > 0) await this.store.syncFilesystem();
    return removed;
  }
}
