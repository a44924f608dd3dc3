/** Tags: files under tags/ mapping a full image name to its root descriptor (format in docs/store-format.md). */
import { readdir, readFile, rename, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OcitoolError } from '../errors.js';
import { DescriptorSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { StorePaths } from './paths.js';

export const TagRecordSchema = z.object({
  name: z.string().min(1),
  descriptor: DescriptorSchema,
  /** For an index: the children that are in the store (a pull may keep only some platforms). */
  presentChildren: z.array(z.string().transform((s) => parseDigest(s))).optional(),
});
export type TagRecord = z.infer<typeof TagRecordSchema>;

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

export async function listTags(paths: StorePaths): Promise<TagRecord[]> {
  let names: string[];
  try {
    names = await readdir(paths.tags);
  } catch {
    return [];
  }
  const out: TagRecord[] = [];
  for (const file of names.sort()) {
    if (file.startsWith('.')) continue;
    const record = await readTag(paths, decodeURIComponent(file));
    if (record) out.push(record);
  }
  return out;
}

/** Writes a tag atomically (temp file, rename). The caller has made its content durable first. */
export async function writeTag(paths: StorePaths, record: { name: string; descriptor: Descriptor; presentChildren?: Digest[] }, tempDir: string): Promise<void> {
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
