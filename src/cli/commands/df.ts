/**
 * `ocitool df`: how much disk the store uses, per image (what it shares with other images and
 * what only it holds), and what `gc` would free (objects no tag reaches, staging leftovers).
 * Sizes are apparent sizes (bytes of the files); the total also gives the space allocated.
 *
 * The store is read through its public functions only (listTags, describeImage, computeReach,
 * paths): one image's reach is computeReach over its one tag.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { formatPlatform } from '../../oci/platform.js';
import { shortDigest } from '../../oci/digest.js';
import { describeImage } from '../../store/describe.js';
import { computeReach } from '../../store/reach.js';
import type { Store } from '../../store/store.js';
import type { TagRecord } from '../../store/tags.js';
import { isEnoent, listNames } from '../../util/fs.js';
import type { ObjectId } from '../../verity/fsverity.js';
import { printJson, type CliContext } from '../context.js';
import { formatBytes } from '../progress.js';

export interface ImageUsage {
  names: string[];
  digest: string;
  platforms: string[];
  /** Bytes of every object the image reaches. */
  size: number;
  /** Of `size`, bytes of objects other images reach too. */
  shared: number;
  /** Of `size`, bytes only this image holds: what removing it (then gc) frees. */
  unique: number;
  objects: number;
}

export interface StoreUsage {
  store: string;
  /** Bytes of every file in the store folder. */
  totalBytes: number;
  /** Space the file system allocated for them (st_blocks). */
  allocatedBytes: number;
  objects: { count: number; bytes: number };
  staging: { folders: number; bytes: number };
  /** Tags, blob and layer links, meta.json, locks. */
  metadataBytes: number;
  /** What `gc` frees: objects no tag reaches, and staging leftovers. */
  reclaimable: { objects: number; objectBytes: number; staging: number; bytes: number };
  images: ImageUsage[];
  /** Problems met while walking the tags (missing blobs…): `ocitool fsck` tells more. */
  problems: number;
}

/** Bytes and allocated bytes of every file below `dir` (links counted, not followed). */
async function folderUsage(dir: string): Promise<{ bytes: number; allocated: number }> {
  let bytes = 0;
  let allocated = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    // A store folder that does not exist yet (a new store has no staging leftovers) is empty.
    if (isEnoent(err)) return { bytes, allocated };
    throw err;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = await folderUsage(full);
      bytes += sub.bytes;
      allocated += sub.allocated;
    } else {
      const st = await lstat(full);
      bytes += st.size;
      allocated += st.blocks * 512;
    }
  }
  return { bytes, allocated };
}

/** The objects one image reaches: computeReach over its tag alone. */
async function reachOf(store: Store, tag: TagRecord): Promise<{ objects: Set<ObjectId>; problems: number }> {
  const reach = await computeReach(store, [tag]);
  return { objects: reach.objects, problems: reach.problems.length };
}

export async function storeUsage(store: Store): Promise<StoreUsage> {
  const lock = await store.lockShared();
  try {
    const sizes = new Map<ObjectId, number>();
    for (const fan of await listNames(store.paths.objects)) {
      for (const name of await listNames(path.join(store.paths.objects, fan))) {
        sizes.set(`${fan}${name}` as ObjectId, (await lstat(path.join(store.paths.objects, fan, name))).size);
      }
    }
    // Tags naming the same root are one image with several names.
    const byRoot = new Map<string, TagRecord[]>();
    for (const tag of await store.listTags()) {
      const key = `${tag.descriptor.digest} ${JSON.stringify(tag.presentChildren ?? null)}`;
      byRoot.set(key, [...(byRoot.get(key) ?? []), tag]);
    }
    let problems = 0;
    const reached = new Map<ObjectId, number>();
    const perImage: Array<{ tags: TagRecord[]; objects: Set<ObjectId> }> = [];
    for (const tags of byRoot.values()) {
      const reach = await reachOf(store, tags[0]!);
      problems += reach.problems;
      for (const id of reach.objects) reached.set(id, (reached.get(id) ?? 0) + 1);
      perImage.push({ tags, objects: reach.objects });
    }
    const images: ImageUsage[] = [];
    for (const { tags, objects } of perImage) {
      let size = 0;
      let shared = 0;
      for (const id of objects) {
        const bytes = sizes.get(id) ?? 0;
        size += bytes;
        if ((reached.get(id) ?? 0) > 1) shared += bytes;
      }
      const platforms = (await describeImage(store, tags[0]!)).platforms.map(formatPlatform);
      images.push({ names: tags.map((t) => t.name).sort(), digest: tags[0]!.descriptor.digest, platforms, size, shared, unique: size - shared, objects: objects.size });
    }
    images.sort((a, b) => b.size - a.size || a.names[0]!.localeCompare(b.names[0]!));
    let objectBytes = 0;
    let unreachedCount = 0;
    let unreachedBytes = 0;
    for (const [id, bytes] of sizes) {
      objectBytes += bytes;
      if (!reached.has(id)) {
        unreachedCount++;
        unreachedBytes += bytes;
      }
    }
    const stagingFolders = await listNames(store.paths.staging);
    const staging = await folderUsage(store.paths.staging);
    const total = await folderUsage(store.root);
    return {
      store: store.root,
      totalBytes: total.bytes,
      allocatedBytes: total.allocated,
      objects: { count: sizes.size, bytes: objectBytes },
      staging: { folders: stagingFolders.length, bytes: staging.bytes },
      metadataBytes: total.bytes - objectBytes - staging.bytes,
      reclaimable: { objects: unreachedCount, objectBytes: unreachedBytes, staging: stagingFolders.length, bytes: unreachedBytes + staging.bytes },
      images,
      problems,
    };
  } finally {
    await lock.release();
  }
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('df')
    .description('show the disk space the store uses, per image (shared and unique), and what gc would free')
    .option('--json', 'print a JSON object')
    .addHelpText('after', '\nExample:\n  $ ocitool df\n  $ ocitool df --json | jq .reclaimable.bytes\n')
    .action(async (opts: { json?: boolean }) => {
      const usage = await storeUsage(await ctx.openStore());
      if (opts.json) {
        printJson(ctx, usage);
      } else {
        ctx.print(`store ${usage.store}: ${formatBytes(usage.totalBytes)} (${formatBytes(usage.allocatedBytes)} allocated)`);
        for (const line of table([
          ['objects', formatBytes(usage.objects.bytes), `${usage.objects.count} objects`],
          ['staging', formatBytes(usage.staging.bytes), `${usage.staging.folders} folders`],
          ['metadata', formatBytes(usage.metadataBytes), 'tags, links, meta.json'],
          ['reclaimable', formatBytes(usage.reclaimable.bytes), `${usage.reclaimable.objects} objects no tag reaches, ${usage.reclaimable.staging} staging folders (ocitool gc)`],
        ])) ctx.print(`  ${line}`);
        if (usage.images.length) {
          ctx.print('');
          const rows = [['NAME', 'DIGEST', 'SIZE', 'SHARED', 'UNIQUE']];
          for (const image of usage.images) {
            rows.push([image.names[0]!, shortDigest(image.digest), formatBytes(image.size), formatBytes(image.shared), formatBytes(image.unique)]);
            for (const other of image.names.slice(1)) rows.push([other, '', '', '', '']);
          }
          for (const line of table(rows)) ctx.print(line);
        }
      }
      if (usage.problems) ctx.note(`ocitool: ${usage.problems} problem${usage.problems === 1 ? '' : 's'} reading the images; run ocitool fsck`);
    });
}
