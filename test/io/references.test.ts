// Names are checked before anything is published (issue 7, defect 9 and item 11): a --tag, --name
// or archive name with a 4 KB host or 120 path components is refused up front with docker's and
// DNS's limits; a name that is valid but would not fit the store's tag files never ends in a raw
// ENAMETOOLONG after blobs were published; a newline or NUL in a name gives one escaped line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { listFiles, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { writeRootfsTar } from '../helpers/images.js';
import { rewriteTar } from '../archive/helpers.js';
import { errorLines, hasStackTrace, storeWithImage } from './helpers.js';

let dir: string;
let rootfs: string;
let saved: string;

before(async () => {
  dir = await tempDir('ocitool-io-refs-');
  rootfs = path.join(dir, 'rootfs.tar');
  await writeRootfsTar(rootfs, [{ name: 'data', size: 100_000, seed: 4 }]);
  const source = path.join(dir, 'source');
  await storeWithImage(dir, source, 'named:1', 100_000, 5);
  saved = path.join(dir, 'saved.tar');
  assert.equal((await ocitool(['save', 'named:1', '-o', saved], { store: source })).code, 0);
});
after(() => removeDir(dir));

const longHost = `${'h'.repeat(4000)}.example.com/x:1`;
const manyComponents = `${Array.from({ length: 120 }, (_, i) => `c${i}`).join('/')}:1`;

async function refusedBeforePublishing(store: string, r: { code: number | null; stderr: string }, message: RegExp): Promise<void> {
  assert.equal(r.code, 1, r.stderr);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, message);
  assert.ok(lines[0]!.length < 400, 'the message is short, not the 4 KB name');
  assert.deepEqual(await listFiles(path.join(store, 'objects')), [], 'nothing was published');
}

test('--tag with a 4 KB host or 120 path components is refused before anything is published', async () => {
  const store = path.join(dir, 'store-tag');
  await refusedBeforePublishing(store, await ocitool(['import-rootfs', rootfs, '--tag', longHost], { store }), /\(4016 characters\): longer than 1024 characters/);
  await refusedBeforePublishing(store, await ocitool(['import-rootfs', rootfs, '--tag', manyComponents], { store }), /repository name of \d+ characters \(at most 255\)/);
  await refusedBeforePublishing(store, await ocitool(['import-oci', saved, '--tag', longHost], { store }), /longer than 1024 characters/);
  await refusedBeforePublishing(store, await ocitool(['import-rootfs', rootfs, '--tag', `${'h'.repeat(300)}.example.com/x:1`], { store }), /registry host name of 312 characters \(at most 253\)/);
  await refusedBeforePublishing(store, await ocitool(['import-rootfs', rootfs, '--tag', `${'h'.repeat(70)}.example.com/x:1`], { store }), /a label of 70 characters \(at most 63\)/);
});

test('load --name, and an archive name (io.containerd.image.name), with a 4 KB host are refused before anything is published', async () => {
  const store = path.join(dir, 'store-load');
  await refusedBeforePublishing(store, await ocitool(['load', '-i', saved, '--name', longHost.replace(/:1$/, '')], { store }), /longer than 1024 characters/);
  const hostile = path.join(dir, 'hostile-name.tar');
  await rewriteTar([saved], hostile, (header, data) => (header.name === 'index.json'
    ? { header, data: Buffer.from(data.toString().replace(/"io\.containerd\.image\.name":"[^"]*"/, `"io.containerd.image.name":${JSON.stringify(longHost)}`)) }
    : { header, data }));
  await refusedBeforePublishing(store, await ocitool(['load', '-i', hostile], { store }), /longer than 1024 characters/);
});

test('a newline or NUL in a name gives one line with the character escaped', async () => {
  const store = path.join(dir, 'store-ctl');
  const r = await ocitool(['import-rootfs', rootfs, '--tag', 'bad\nname:1'], { store });
  await refusedBeforePublishing(store, r, /invalid reference "bad\\nname:1": it contains the control character "\\n"/);
  const tagNl = await ocitool(['import-rootfs', rootfs, '--tag', 'bad:ta\ng'], { store });
  await refusedBeforePublishing(store, tagNl, /"bad:ta\\ng"/);
  // A NUL cannot be an argument; it comes from an archive.
  const hostile = path.join(dir, 'nul-name.tar');
  await rewriteTar([saved], hostile, (header, data) => (header.name === 'index.json'
    ? { header, data: Buffer.from(data.toString().replace(/"io\.containerd\.image\.name":"[^"]*"/, '"io.containerd.image.name":"nul\\u0000name:1"')) }
    : { header, data }));
  await refusedBeforePublishing(store, await ocitool(['load', '-i', hostile], { store }), /"nul\\u0000name:1": it contains the control character "\\u0000"/);
});

test('a long valid name (200 characters) is stored, or refused before anything is published; never ENAMETOOLONG after', async () => {
  for (const name of ['r'.repeat(200), `${Array.from({ length: 66 }, () => 'ab').join('/')}:1`]) {
    const store = path.join(dir, `store-long-${name.length}`);
    const r = await ocitool(['import-rootfs', rootfs, '--tag', name], { store });
    assert.doesNotMatch(r.stderr, /ENAMETOOLONG/);
    if (r.code === 0) {
      const images = await ocitool(['images'], { store });
      assert.match(images.stdout, new RegExp(name.slice(0, 50)));
    } else {
      await refusedBeforePublishing(store, r, /too long for the store/);
    }
  }
});
