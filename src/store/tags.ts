/** Tags: files under tags/ mapping a full image name to its root descriptor (format in docs/store-format.md). */
import { readdir, readFile, rename, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OcitoolError } from '../errors.js';
import { DescriptorSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import { parseDigest } from '../oci/digest.js';
import type { PresenceTree } from '../oci/graph.js';
import type { StorePaths } from './paths.js';

const digestKey = z.string().refine((s) => {
  try {
    return parseDigest(s) === s;
  } catch {
    return false; // refused below with the key named: nothing is lost
  }
}, 'not a digest');
/** `{ "<child digest>": true | { …its present children… } }`: what of a partly pulled index the store holds. */
export const PresenceTreeSchema: z.ZodType<PresenceTree> = z.lazy(() => z.record(digestKey, z.union([z.literal(true), PresenceTreeSchema])));

export const TagRecordSchema = z.object({
  name: z.string().min(1),
  descriptor: DescriptorSchema,
  /**
   * For an index held in part (a pull may keep only some platforms): a presence tree; tag files
   * written before nested indexes were tracked hold a flat list of the root's present children.
   */
  presentChildren: z.union([z.array(z.string().transform((s) => parseDigest(s))), PresenceTreeSchema]).optional(),
});
export type TagRecord = z.infer<typeof TagRecordSchema>;
/** What a sink writes: presence is always a tree now. */
export type TagRecordInput = { name: string; descriptor: Descriptor; presentChildren?: PresenceTree };

export async function readTag(paths: StorePaths, name: string): Promise<TagRecord | undefined> {
  let raw: Buffer;
  try {
    raw = await readFile(paths.tag(name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseJson(raw, TagRecordSchema, `tag ${name}`);
}

/** A tag file that cannot be read or parsed: reported by `images`, `fsck` and `gc`, never skipped silently. */
export interface BadTag {
  file: string;
  name: string;
  message: string;
}

/**
 * Every tag, plus the tag files that could not be read. Only a missing tags/ folder means "no
 * tags"; any other error reading the folder is thrown (gc must never take it for an empty store).
 */
export async function readAllTags(paths: StorePaths): Promise<{ tags: TagRecord[]; bad: BadTag[] }> {
  let names: string[];
  try {
    names = await readdir(paths.tags);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { tags: [], bad: [] };
    throw new OcitoolError('STORE', `store tags ${paths.tags}: ${(err as Error).message}`, { cause: err });
  }
  const tags: TagRecord[] = [];
  const bad: BadTag[] = [];
  for (const file of names.sort()) {
    if (file.startsWith('.')) continue;
    let name = file;
    try {
      name = decodeURIComponent(file);
      const record = await readTag(paths, name);
      if (record) tags.push(record);
    } catch (err) {
      bad.push({ file: path.join(paths.tags, file), name, message: (err as Error).message });
    }
  }
  return { tags, bad };
}

/** Every readable tag; throws on the first unreadable one (use readAllTags to report them all). */
export async function listTags(paths: StorePaths): Promise<TagRecord[]> {
  const { tags, bad } = await readAllTags(paths);
  if (bad.length) throw new OcitoolError('STORE_CORRUPT', `tag ${bad[0]!.name} (${bad[0]!.file}) cannot be read: ${bad[0]!.message} (run ocitool fsck)`);
  return tags;
}

/** Writes a tag atomically (temp file, rename). The caller has made its content durable first. */
export async function writeTag(paths: StorePaths, record: TagRecordInput, tempDir: string): Promise<void> {
  const temp = path.join(tempDir, `tag-${encodeURIComponent(record.name)}`);
  await writeFile(temp, JSON.stringify(record, null, 2) + '\n');
  await rename(temp, paths.tag(record.name));
}

export async function removeTag(paths: StorePaths, name: string): Promise<void> {
  try {
    await rm(paths.tag(name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OcitoolError('NOT_FOUND', `no image named ${name} in the store`);
    throw err;
  }
}
