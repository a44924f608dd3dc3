// fsck finds damage; rm + gc keeps exactly what the remaining tags reach; gc beside imports and
// two imports at once, as real concurrent processes, leave a store that fsck finds clean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { buildImage, imageAFiles, imageBFiles, type TestImage } from '../helpers/layouts.js';
import { sampleRootfs } from '../helpers/images.js';

let dir: string;
let a: TestImage;
let b: TestImage;
let big: TestImage;

before(async () => {
  dir = await tempDir();
  a = await buildImage(dir, 'a', imageAFiles());
  b = await buildImage(dir, 'b', imageBFiles());
  // Bigger, so that an import is still running when gc starts.
  big = await buildImage(dir, 'big', [sampleRootfs(5, 400, 512 * 1024)]);
});
after(() => removeDir(dir));

const objectsOf = async (store: string) => (await listFiles(path.join(store, 'objects'))).filter((f) => !f.startsWith('.'));

test('fsck finds a flipped byte in a file object and in a blob, naming each', async () => {
  const store = path.join(dir, 'fsck');
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a'], { store })).code, 0);
  const clean = await ocitool(['fsck', '--json'], { store });
  assert.equal(clean.code, 0, clean.stdout);
  assert.equal(JSON.parse(clean.stdout).ok, true);
  const objects = await objectsOf(store);
  const victim = path.join(store, 'objects', objects[Math.floor(objects.length / 2)]!);
  const data = await readFile(victim);
  data[0] ^= 0xff;
  await writeFile(victim, data);
  const r = await ocitool(['fsck'], { store });
  assert.equal(r.code, 1);
  const name = objects[Math.floor(objects.length / 2)]!.replace('/', '');
  assert.match(r.stdout, new RegExp(`corrupt-object: object .*${name.slice(2)} is corrupt`));
  assert.match(r.stderr, /problems found/);
});

test('rm then gc leaves exactly the objects the other tags reach', async () => {
  const store = path.join(dir, 'gc');
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a'], { store })).code, 0);
  assert.equal((await ocitool(['import-oci', b.zstd, '--tag', 'b'], { store })).code, 0);
  const only = path.join(dir, 'gc-only-b');
  assert.equal((await ocitool(['import-oci', b.zstd, '--tag', 'b'], { store: only })).code, 0);
  const dry = await ocitool(['gc', '--dry-run', '--json'], { store });
  assert.equal(JSON.parse(dry.stdout).removedObjects, 0, 'nothing unreachable yet');
  assert.equal((await ocitool(['rm', 'a'], { store })).code, 0);
  const before = await objectsOf(store);
  const gc = await ocitool(['gc', '--json'], { store });
  assert.equal(gc.code, 0, gc.stderr);
  const after = await objectsOf(store);
  assert.deepEqual(after, await objectsOf(only), 'same objects as a store that only ever had b');
  assert.equal(JSON.parse(gc.stdout).removedObjects, before.length - after.length);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
  const rmAgain = await ocitool(['rm', 'a'], { store });
  assert.equal(rmAgain.code, 1);
  assert.match(rmAgain.stderr, /no image named docker\.io\/library\/a:latest/);
});

test('gc running beside imports never deletes what an import needs', async () => {
  const store = path.join(dir, 'race');
  // Leave unreferenced objects that the next imports will find present and reuse.
  for (const [layout, tag] of [[big.gzip, 'big'], [a.gzip, 'a']] as const) {
    assert.equal((await ocitool(['import-oci', layout, '--tag', tag], { store })).code, 0);
  }
  assert.equal((await ocitool(['rm', 'big', 'a'], { store })).code, 0);
  for (let round = 0; round < 3; round++) {
    const imports = [ocitool(['import-oci', big.zstd, '--tag', `big:${round}`, '-q'], { store }), ocitool(['import-oci', a.zstd, '--tag', `a:${round}`, '-q'], { store })];
    const gcs = [ocitool(['gc'], { store }), ocitool(['gc'], { store })];
    const results = await Promise.all([...imports, ...gcs]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const fsck = await ocitool(['fsck'], { store });
    assert.equal(fsck.code, 0, `round ${round}: ${fsck.stdout}`);
    const names = JSON.parse((await ocitool(['images', '--json'], { store })).stdout).map((i: { name: string }) => i.name);
    assert.ok(names.includes(`docker.io/library/big:${round}`) && names.includes(`docker.io/library/a:${round}`));
  }
});

test('two imports at once into one store both land', async () => {
  const store = path.join(dir, 'two');
  const [r1, r2] = await Promise.all([
    ocitool(['import-oci', a.gzip, '--tag', 'a', '-q'], { store }),
    ocitool(['import-oci', b.gzip, '--tag', 'b', '-q'], { store }),
  ]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
  assert.equal(JSON.parse((await ocitool(['images', '--json'], { store })).stdout).length, 2);
});

test('a killed import leaves no tag and nothing gc cannot remove', async () => {
  const store = path.join(dir, 'killed');
  const { spawn } = await import('node:child_process');
  const { cliPath } = await import('../helpers/index.js');
  const child = spawn(process.execPath, [cliPath, 'import-oci', big.gzip, '--tag', 'big'], { env: { ...process.env, OCITOOL_STORE: store }, stdio: ['ignore', 'ignore', 'pipe'] });
  // Kill it once it has started on a layer.
  await new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => { if (/started/.test(d.toString())) resolve(); }));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  assert.deepEqual(JSON.parse((await ocitool(['images', '--json'], { store })).stdout), []);
  const gc = await ocitool(['gc'], { store });
  assert.equal(gc.code, 0, gc.stderr);
  assert.deepEqual(await objectsOf(store), []);
  assert.deepEqual((await listFiles(path.join(store, 'staging'))), []);
  const again = await ocitool(['import-oci', big.gzip, '--tag', 'big', '-q'], { store });
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
});
