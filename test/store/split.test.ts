// Split layers reassemble byte for byte for tars made by the real GNU tar in its gnu, posix (PAX)
// and ustar formats: long names, hard links, symlinks, empty and boundary-sized files, files
// above the in-memory bound, and trailing bytes after the end-of-archive blocks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile, link, symlink, appendFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { patternBytes, writeOciLayout } from '../helpers/images.js';
import { Store } from '../../src/store/store.js';
import { parseDigest } from '../../src/oci/digest.js';
import { INLINE_CONTENT_MAX } from '../../src/store/split-stream.js';

let dir: string;
let tree: string;

before(async () => {
  dir = await tempDir();
  tree = path.join(dir, 'tree');
  const deep = path.join(tree, 'a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60));
  await mkdir(deep, { recursive: true });
  const sizes = [0, 1, INLINE_CONTENT_MAX, INLINE_CONTENT_MAX + 1, 511, 512, 513, 4096, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 7];
  for (const size of sizes) await writeFile(path.join(tree, `f-${size}`), patternBytes(size, size + 1));
  await writeFile(path.join(deep, 'long-named-file-'.repeat(4)), patternBytes(5000, 3));
  await writeFile(path.join(tree, 'dup-1'), patternBytes(9000, 42));
  await writeFile(path.join(tree, 'dup-2'), patternBytes(9000, 42));
  await link(path.join(tree, 'f-4096'), path.join(tree, 'hardlink'));
  await symlink('f-1', path.join(tree, 'symlink'));
  await writeFile(path.join(tree, 'ünïcødé-名前'), 'x'.repeat(100));
});
after(() => removeDir(dir));

for (const format of ['gnu', 'posix', 'ustar'] as const) {
  test(`a ${format} tar from GNU tar reassembles exactly`, async () => {
    const tarFile = path.join(dir, `${format}.tar`);
    const args = ['-C', tree, `--format=${format}`, '--sort=name', '-cf', tarFile, '.'];
    if (format === 'ustar') {
      // ustar cannot hold the long path; leave that folder out.
      args.splice(args.length - 1, 1, ...['f-0', 'f-1', 'f-64', 'f-65', 'f-1048577', 'dup-1', 'dup-2', 'hardlink', 'f-4096', 'symlink']);
    }
    await mustRun('tar', args);
    if (format === 'gnu') await appendFile(tarFile, Buffer.alloc(700, 0x41)); // bytes after the end marker stay
    const layout = path.join(dir, `layout-${format}`);
    await writeOciLayout(layout, [tarFile], 'v1');
    const storeDir = path.join(dir, `store-${format}`);
    const r = await ocitool(['import-oci', layout, '--tag', `split:${format}`], { store: storeDir });
    assert.equal(r.code, 0, r.stderr);
    const original = await readFile(tarFile);
    const diffId = parseDigest(`sha256:${createHash('sha256').update(original).digest('hex')}`);
    const store = await Store.open(storeDir);
    const chunks: Buffer[] = [];
    for await (const chunk of await store.openLayer(diffId)) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(original), 'reassembled bytes equal the tar');
  });
}

test('a layer that is not a tar is refused naming the layer', async () => {
  const notTar = path.join(dir, 'not.tar');
  await writeFile(notTar, patternBytes(4096, 9));
  const layout = path.join(dir, 'layout-not-tar');
  await writeOciLayout(layout, [notTar], 'v1');
  const r = await ocitool(['import-oci', layout, '--tag', 'x'], { store: path.join(dir, 'store-not-tar') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ocitool: layer sha256:[0-9a-f]{64}: not a tar \(bad header checksum at byte 0\)/);
});
