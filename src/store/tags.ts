/** Tags: files under tags/ mapping a full image name to its root descriptor (format in docs/store-format.md). */
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod/v3';
import { OcitoolError, withLaterFailure } from '../errors.js';
import { syncFolder } from '../util/output.js';
import { DescriptorSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import { parseDigest } from '../oci/digest.js';
import type { PresenceTree } from '../oci/graph.js';
import { LONG_TAG_MARK, tagFileName, type StorePaths } from './paths.js';
import { exists, isEnoent } from '../util/fs.js';

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

/** Reads and parses one tag file; undefined when it does not exist. */
async function readTagFile(file: string, what: string): Promise<TagRecord | undefined> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw new OcitoolError('IO', `tag ${what} (${file}): ${(err as Error).message}`, { cause: err });
  }
  return parseJson(raw, TagRecordSchema, `tag ${what} (${file})`);
}

/**
 * Before long names were hashed, a name whose encoding had 201 to 255 bytes was stored under its
 * encoding as it is: such files are still read, and replaced by the hashed file on the next write.
 */
function legacyTagFile(paths: StorePaths, name: string): string | undefined {
  const encoded = encodeURIComponent(name);
  return encoded !== tagFileName(name) && Buffer.byteLength(encoded) <= 255 ? path.join(paths.tags, encoded) : undefined;
}

function checkName(record: TagRecord, file: string): TagRecord {
  const base = path.basename(file);
  if (tagFileName(record.name) !== base && encodeURIComponent(record.name) !== base) {
    throw new OcitoolError('STORE_CORRUPT', `tag file ${file} holds the name ${JSON.stringify(record.name)}, which belongs in another file`);
  }
  return record;
}

export async function readTag(paths: StorePaths, name: string): Promise<TagRecord | undefined> {
  for (const file of [paths.tag(name), legacyTagFile(paths, name)]) {
    if (!file) continue;
    const record = await readTagFile(file, name);
    if (record) return checkName(record, file);
  }
  return undefined;
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
    if (isEnoent(err)) return { tags: [], bad: [] };
    throw new OcitoolError('STORE', `store tags ${paths.tags}: ${(err as Error).message}`, { cause: err });
  }
  const tags: TagRecord[] = [];
  const bad: BadTag[] = [];
  for (const fileName of names.sort()) {
    if (fileName.startsWith('.')) continue;
    const file = path.join(paths.tags, fileName);
    // A long name's file name is a hash: the record holds the name (checked against the hash).
    let name = fileName;
    try {
      if (!fileName.includes(LONG_TAG_MARK)) name = decodeURIComponent(fileName);
      const record = await readTagFile(file, printable(name));
      if (record) tags.push(checkName(record, file)); // absent: removed since the listing
    } catch (err) {
      bad.push({ file, name: printable(name), message: (err as Error).message });
    }
  }
  return { tags, bad };
}

/** A name from a file name, for one-line messages: control characters escaped. */
function printable(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Every readable tag; throws on the first unreadable one (use readAllTags to report them all). */
export async function listTags(paths: StorePaths): Promise<TagRecord[]> {
  const { tags, bad } = await readAllTags(paths);
  if (bad.length) throw new OcitoolError('STORE_CORRUPT', `tag ${bad[0]!.name} (${bad[0]!.file}) cannot be read: ${bad[0]!.message} (run ocitool fsck)`);
  return tags;
}


/**
 * Writes a tag crash-safely: temp file in `tempDir` (same filesystem), fsync it, rename over the
 * tag, fsync tags/. A crash leaves the old record or the new one, never an empty file. The caller
 * has made everything the tag reaches durable first.
 */
export async function writeTag(paths: StorePaths, record: TagRecordInput, tempDir: string): Promise<void> {
  const target = paths.tag(record.name);
  const temp = path.join(tempDir, `tag-${randomBytes(6).toString('hex')}`);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(JSON.stringify(record, null, 2) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
    const legacy = legacyTagFile(paths, record.name);
    if (legacy) await rm(legacy, { force: true });
  } catch (err) {
    const failure = new OcitoolError('IO', `tag ${record.name} (${target}): ${(err as Error).message}`, { cause: err });
    await rm(temp, { force: true }).catch((later: unknown) => {
      throw withLaterFailure(failure, later, `removing ${temp}`);
    });
    throw failure;
  }
  await syncFolder(paths.tags);
}

/** Whether a tag file exists for `name`, readable or not (so `rm` can remove a damaged tag). */
export async function tagExists(paths: StorePaths, name: string): Promise<boolean> {
  for (const file of [paths.tag(name), legacyTagFile(paths, name)]) {
    if (file && (await exists(file))) return true;
  }
  return false;
}

export async function removeTag(paths: StorePaths, name: string): Promise<void> {
  let removed = false;
  for (const file of [paths.tag(name), legacyTagFile(paths, name)]) {
    if (!file) continue;
    try {
      await rm(file);
      removed = true;
    } catch (err) {
      if (!isEnoent(err)) throw new OcitoolError('IO', `tag ${name} (${file}): ${(err as Error).message}`, { cause: err });
    }
  }
  if (!removed) throw new OcitoolError('NOT_FOUND', `no image named ${name} in the store`);
  await syncFolder(paths.tags);
}
