/**
 * fsck: re-hashes every object (fs-verity, and sha256 for blobs, in one read), checks every link,
 * reassembles every split layer against its diff_id, and walks every tag. It collects every
 * problem instead of stopping at the first.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { FsVerityHasher, type ObjectId } from '../verity/fsverity.js';
import { computeReach, linkedObject, type Problem } from './reach.js';
import { openSplitStream } from './split-stream.js';
import type { Store } from './store.js';
import { exists, listNames } from '../util/fs.js';

export interface FsckResult {
  objects: number;
  blobs: number;
  layers: number;
  tags: number;
  problems: Problem[];
}

export async function fsck(store: Store): Promise<FsckResult> {
  const lock = await store.lockShared();
  try {
    const problems: Problem[] = [];
    // Which blob digests each object must also match, so each file is read once.
    const blobsOf = new Map<string, Digest[]>();
    let blobs = 0;
    for (const algorithm of await listNames(store.paths.blobs)) {
      for (const hex of await listNames(path.join(store.paths.blobs, algorithm))) {
        blobs++;
        const digest = `${algorithm}:${hex}` as Digest;
        const id = await linkedObject(path.join(store.paths.blobs, algorithm, hex));
        if (!id || !(await exists(store.paths.object(id)))) {
          problems.push({ kind: 'dangling-link', object: digest, message: `blob ${digest} links to a missing object` });
          continue;
        }
        blobsOf.set(id, [...(blobsOf.get(id) ?? []), digest]);
      }
    }
    let objects = 0;
    for (const fan of await listNames(store.paths.objects)) {
      for (const name of await listNames(path.join(store.paths.objects, fan))) {
        objects++;
        const id = `${fan}${name}` as ObjectId;
        const file = store.paths.object(id);
        const verity = new FsVerityHasher();
        const wanted = blobsOf.get(id) ?? [];
        const hashes = wanted.map((d) => createHash(d.slice(0, d.indexOf(':'))));
        try {
          for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
            verity.update(chunk as Buffer);
            for (const h of hashes) h.update(chunk as Buffer);
          }
        } catch (err) {
          problems.push({ kind: 'unreadable-object', object: id, message: `object ${id}: ${(err as Error).message}` });
          continue;
        }
        const actual = verity.hex();
        if (actual !== id) problems.push({ kind: 'corrupt-object', object: id, message: `object ${file} is corrupt: fs-verity digest is ${actual}` });
        wanted.forEach((d, i) => {
          const got = `${d.slice(0, d.indexOf(':'))}:${hashes[i]!.digest('hex')}`;
          if (got !== d) problems.push({ kind: 'corrupt-blob', object: d, message: `blob ${d} is corrupt: its bytes hash to ${got}` });
        });
      }
    }
    let layers = 0;
    for (const algorithm of await listNames(store.paths.layers)) {
      for (const hex of await listNames(path.join(store.paths.layers, algorithm))) {
        layers++;
        const diffId = `${algorithm}:${hex}` as Digest;
        const hash = createHash('sha256');
        try {
          for await (const chunk of openSplitStream(store.paths.layer(diffId), (id) => store.paths.object(id))) hash.update(chunk as Buffer);
          const got = `sha256:${hash.digest('hex')}`;
          if (got !== diffId) problems.push({ kind: 'corrupt-layer', object: diffId, message: `layer ${diffId} reassembles to ${got}` });
        } catch (err) {
          problems.push({ kind: 'corrupt-layer', object: diffId, message: `layer ${diffId}: ${(err as Error).message}` });
        }
      }
    }
    const reach = await computeReach(store);
    problems.push(...reach.problems);
    return { objects, blobs, layers, tags: (await store.listTags()).length, problems };
  } finally {
    await lock.release();
  }
}
