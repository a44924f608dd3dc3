/**
 * Garbage collection: with the store lock held exclusive (no import can be between counting an
 * object as present and tagging it), delete every object, blob link and layer link that no tag
 * reaches, and every staging folder (their owners are dead: live ones hold the lock shared).
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { OcitoolError } from '../errors.js';
import { acquireExclusive } from './lock.js';
import { computeReach } from './reach.js';
import type { Store } from './store.js';
import { listNames } from '../util/fs.js';

export interface GcResult {
  removedObjects: number;
  removedBytes: number;
  removedLinks: number;
  removedStaging: number;
  dryRun: boolean;
}

export async function gc(store: Store, options: { dryRun?: boolean; onLockWait?: (message: string) => void } = {}): Promise<GcResult> {
  const lock = await acquireExclusive(store.paths.locks, (pids) => options.onLockWait?.(`waiting for process ${pids.join(', ')} to finish with the store`));
  try {
    const reach = await computeReach(store);
    // A tag whose graph cannot be read might reach anything: deleting could lose data.
    const unreadable = reach.problems.filter((p) => p.kind === 'corrupt-image');
    if (unreadable.length) throw new OcitoolError('STORE_CORRUPT', `gc stopped, nothing removed: ${unreadable[0]!.message} (run ocitool fsck)`);
    const result: GcResult = { removedObjects: 0, removedBytes: 0, removedLinks: 0, removedStaging: 0, dryRun: !!options.dryRun };
    const remove = async (p: string) => {
      if (!options.dryRun) await rm(p, { recursive: true, force: true });
    };
    for (const fan of await listNames(store.paths.objects)) {
      for (const name of await listNames(path.join(store.paths.objects, fan))) {
        if (reach.objects.has(`${fan}${name}` as never)) continue;
        const file = path.join(store.paths.objects, fan, name);
        result.removedBytes += (await stat(file).catch(() => ({ size: 0 }))).size;
        result.removedObjects++;
        await remove(file);
      }
    }
    for (const [base, keep] of [[store.paths.blobs, reach.blobs], [store.paths.layers, reach.layers]] as const) {
      for (const algorithm of await listNames(base)) {
        for (const hex of await listNames(path.join(base, algorithm))) {
          if (keep.has(`${algorithm}:${hex}` as never)) continue;
          result.removedLinks++;
          await remove(path.join(base, algorithm, hex));
        }
      }
    }
    for (const op of await listNames(store.paths.staging)) {
      result.removedStaging++;
      await remove(path.join(store.paths.staging, op));
    }
    if (!options.dryRun) await store.syncFilesystem();
    return result;
  } finally {
    await lock.release();
  }
}
