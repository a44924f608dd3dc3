// The upstream composefs test vectors (containers/composefs tests/assets): for each dump, our
// EROFS image must hash to what the C mkcomposefs wrote, and pass fsck.erofs; each should-fail
// dump must be refused with a readable error. The vectors live beside the repository, in
// ../shared/composefs-vectors, and are never copied into it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { OcitoolError } from '../../src/errors.js';
import { parseDump } from '../../src/composefs/dump.js';
import { writeErofs, type FormatVersion } from '../../src/composefs/erofs-writer.js';
import { repoRoot, tempDir, removeDir, run } from '../helpers/index.js';

const vectorsDir = path.resolve(repoRoot, '..', 'shared', 'composefs-vectors');

async function vectorNames(): Promise<string[]> {
  assert.ok(existsSync(vectorsDir), `composefs vectors missing: ${vectorsDir} (shared/ must sit beside the repository)`);
  return (await readdir(vectorsDir)).filter((n) => /\.dump(\.gz)?$/.test(n)).sort();
}

/** A vector's dump bytes. Upstream's special_v1.dump is a symlink to special.dump; the copy holds the target's name. */
async function readVector(name: string): Promise<Buffer> {
  let data = await readFile(path.join(vectorsDir, name));
  const asName = data.toString('utf8').trim();
  if (data.length < 256 && /^[\w.-]+\.dump$/.test(asName) && existsSync(path.join(vectorsDir, asName))) {
    data = await readFile(path.join(vectorsDir, asName));
  }
  return name.endsWith('.gz') ? gunzipSync(data) : data;
}

/** The versions mkcomposefs was run with: --min-version=V --max-version=V, else its default 0..1. */
async function versionOf(name: string): Promise<{ version: FormatVersion; maxVersion: FormatVersion }> {
  const file = path.join(vectorsDir, `${name}.version`);
  if (!existsSync(file)) return { version: 0, maxVersion: 1 };
  const v = Number((await readFile(file, 'utf8')).trim());
  assert.ok(v === 0 || v === 1, `${name}.version holds ${v}`);
  return { version: v as FormatVersion, maxVersion: v as FormatVersion };
}

async function fsckErofs(image: string): Promise<void> {
  const r = await run('fsck.erofs', [image]);
  assert.equal(r.code, 0, `fsck.erofs ${path.basename(image)}: ${r.stdout}${r.stderr}`);
}

test('every upstream composefs vector: our image is byte-identical to mkcomposefs and passes fsck.erofs', async () => {
  const names = (await vectorNames()).filter((n) => !n.startsWith('should-fail-'));
  assert.ok(names.length >= 13, `expected the upstream vectors, found ${names.length}`);
  const dir = await tempDir('ocitool-cfs-');
  try {
    const mismatches: string[] = [];
    for (const name of names) {
      const expected = (await readFile(path.join(vectorsDir, `${name}.sha256`), 'utf8')).trim().split(/\s+/)[0];
      const image = writeErofs(parseDump(await readVector(name)), await versionOf(name));
      const actual = createHash('sha256').update(image).digest('hex');
      if (actual !== expected) mismatches.push(`${name}: ${actual} != ${expected}`);
      const file = path.join(dir, `${name}.img`);
      await writeFile(file, image);
      await fsckErofs(file);
    }
    assert.deepEqual(mismatches, [], `images differing from mkcomposefs:\n${mismatches.join('\n')}`);
  } finally {
    await removeDir(dir);
  }
});

test('every should-fail vector is refused with one readable line', async () => {
  const names = (await vectorNames()).filter((n) => n.startsWith('should-fail-'));
  assert.ok(names.length >= 14, `expected the should-fail vectors, found ${names.length}`);
  for (const name of names) {
    const data = await readVector(name);
    assert.throws(
      () => writeErofs(parseDump(data), { version: 0, maxVersion: 1 }),
      (err: unknown) => {
        assert.ok(err instanceof OcitoolError, `${name}: ${String(err)}`);
        assert.equal(err.code, 'ARCHIVE_INVALID', name);
        assert.match(err.message, /^composefs: /, name);
        assert.doesNotMatch(err.message, /\n/, `${name}: one line`);
        assert.ok(err.message.length < 300, `${name}: message too long: ${err.message.length}`);
        return true;
      },
      name,
    );
  }
});

test('the refusals name the cause and the path or line', async () => {
  const reason = async (name: string): Promise<string> => {
    try {
      writeErofs(parseDump(await readVector(name)), { version: 0 });
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };
  assert.match(await reason('should-fail-long-link.dump'), /line 2: \/link: symlink target is \d+ bytes/);
  assert.match(await reason('should-fail-too-big.dump'), /\/bigfile: file size 9500000000000000 is over/);
  assert.match(await reason('should-fail-self-hardlink.dump'), /\/037blockdev: self-referential hardlink/);
  assert.match(await reason('should-fail-dir-hardlink.dump'), /\/rootlink: directories can't be hardlinked/);
  assert.match(await reason('should-fail-big-inline.dump'), /\/inlinebig: inline content is 5004 bytes, the limit is 5000/);
  assert.match(await reason('should-fail-empty-xattr-key.dump'), /\/noxattr-key: empty xattr name/);
  assert.match(await reason('should-fail-empty-name.dump'), /line 2: empty file name in path \/\//);
  assert.match(await reason('should-fail-honggfuzz-long-xattr.dump'), /line 1: \/: xattr .*more than 32767 bytes/);
});
