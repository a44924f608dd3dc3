/**
 * Garbage collection, under the exclusive store lock: no other process reads or writes the store
 * meanwhile, so no import sits between counting an object as present and tagging it, and every
 * staging folder belongs to a dead process (creators hold the lock shared while theirs exists).
 * gc deletes what no tag reaches, and only when it can read every tag and every tag's whole graph:
 * a tag it cannot read might reach anything (rules: docs/store-format.md, "gc and fsck").
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { OcitoolError } from '../errors.js';
import { lockLeftovers } from './lock.js';
import { computeReach, type Problem } from './reach.js';
import { META_TEMP_PREFIX, type Store } from './store.js';
import { exists, isEnoent, listNames } from '../util/fs.js';

export interface GcResult {
  removedObjects: number;
  /** Bytes of the removed objects. */
  removedBytes: number;
  removedLinks: number;
  removedStaging: number;
  /** Bytes in the removed staging folders. */
  removedStagingBytes: number;
  /** Owner files of dead lock holders, lock files of older ocitool versions, meta.json temp files of killed store creators. */
  removedLeftoverFiles: number;
  dryRun: boolean;
}

/** Every name in a folder, dot files included. */
async function listAllNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isEnoent(err)) return [];
    throw err;
  }
}

function refuse(message: string): OcitoolError {
  return new OcitoolError('STORE_CORRUPT', `gc stopped, nothing removed: ${message}`);
}

/** Bytes below a path (files and symlinks themselves), 0 when it is gone. */
async function bytesBelow(p: string): Promise<number> {
  let info;
  try {
    info = await lstat(p);
  } catch (err) {
    if (isEnoent(err)) return 0;
    throw err;
  }
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(p)) total += await bytesBelow(path.join(p, name));
  return total;
}

export async function gc(store: Store, options: { dryRun?: boolean } = {}): Promise<GcResult> {
  const lock = await store.lockExclusive();
  try {
    // Only ENOENT means absent, and even an absent tags/ is no proof of "no tags" in a store that
    // always has one: both refuse rather than remove everything.
    if (!(await exists(store.paths.tags))) throw refuse(`the tags folder ${store.paths.tags} is missing (create it empty if the store really has no tags)`);
    let bad;
    let tags;
    try {
      ({ bad, tags } = await store.readAllTags());
    } catch (err) {
      throw refuse((err as Error).message);
    }
    if (bad.length) throw refuse(`${bad.length} tag${bad.length > 1 ? 's' : ''} cannot be read, first ${bad[0]!.name} (${bad[0]!.file}): ${bad[0]!.message} (run ocitool fsck, or ocitool rm the tag)`);
    const reach = await computeReach(store, tags); // the tags just read, not read again
    // Every problem stops gc: a missing blob may be a config whose diff_ids name layers.
    const blocking: Problem[] = reach.problems;
    if (blocking.length) throw refuse(`the tags' graph cannot be fully read (${blocking.length} problem${blocking.length > 1 ? 's' : ''}), first ${blocking[0]!.kind}: ${blocking[0]!.message} (run ocitool fsck)`);

    const result: GcResult = { removedObjects: 0, removedBytes: 0, removedLinks: 0, removedStaging: 0, removedStagingBytes: 0, removedLeftoverFiles: 0, dryRun: !!options.dryRun };
    const remove = async (p: string) => {
      if (!options.dryRun) await rm(p, { recursive: true, force: true });
    };
    // Links before objects: a gc killed half-way leaves unreachable objects, never dangling links.
    for (const [base, keep] of [[store.paths.blobs, reach.blobs], [store.paths.layers, reach.layers], [path.join(store.root, 'composefs'), reach.composefs]] as const) {
      for (const algorithm of await listNames(base)) {
        for (const hex of await listNames(path.join(base, algorithm))) {
          if (keep.has(`${algorithm}:${hex}` as never)) continue;
          result.removedLinks++;
          await remove(path.join(base, algorithm, hex));
        }
      }
    }
    for (const fan of await listNames(store.paths.objects)) {
      for (const name of await listNames(path.join(store.paths.objects, fan))) {
        if (reach.objects.has(`${fan}${name}` as never)) continue;
        const file = path.join(store.paths.objects, fan, name);
        result.removedBytes += await bytesBelow(file);
        result.removedObjects++;
        await remove(file);
      }
    }
    // Every creator of a staging folder holds the lock shared while the folder exists; we hold it
    // exclusive, so these belong to processes that died (or to ocitool versions that did not lock).
    for (const op of await listNames(store.paths.staging)) {
      const dir = path.join(store.paths.staging, op);
      result.removedStagingBytes += await bytesBelow(dir);
      result.removedStaging++;
      await remove(dir);
    }
    const metaTemps = (await listAllNames(store.paths.root)).filter((n) => n.startsWith(META_TEMP_PREFIX)).map((n) => path.join(store.paths.root, n));
    for (const file of [...(await lockLeftovers(store.paths.locks, lock)), ...metaTemps]) {
      result.removedLeftoverFiles++;
      await remove(file);
    }
    if (!options.dryRun) await store.syncFilesystem();
    return result;
  } finally {
    await lock.release();
  }
}
