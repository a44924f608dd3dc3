// import-oci of layouts written by the real skopeo (gzip and zstd), from folders and tars; the
// stored manifest digest equals skopeo's; shared files are stored once; split layers reassemble
// to their diff_ids byte for byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { listFiles, mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { buildImage, imageAFiles, imageBFiles, skopeoManifestDigest, type TestImage } from '../helpers/layouts.js';
import { Store } from '../../src/store/store.js';
import { parseDigest } from '../../src/oci/digest.js';

let dir: string;
let a: TestImage;
let b: TestImage;

before(async () => {
  dir = await tempDir();
  a = await buildImage(dir, 'a', imageAFiles());
  b = await buildImage(dir, 'b', imageBFiles());
});
after(() => removeDir(dir));

async function images(store: string): Promise<Array<{ name: string; digest: string; platforms: string[] }>> {
  const r = await ocitool(['images', '--json'], { store });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const kind of ['gzip', 'zstd'] as const) {
  test(`a ${kind} layout written by skopeo imports with skopeo's manifest digest`, async () => {
    const store = path.join(dir, `store-${kind}`);
    const layout = a[kind];
    const r = await ocitool(['import-oci', layout, '--tag', `example.com/a:${kind}`], { store });
    assert.equal(r.code, 0, r.stderr);
    const skopeoDigest = await skopeoManifestDigest(layout, a.tag);
    assert.equal(r.stdout.trim().split('\n').pop(), skopeoDigest, 'digest printed last');
    const listed = await images(store);
    assert.deepEqual(listed.map((i) => [i.name, i.digest]), [[`example.com/a:${kind}`, skopeoDigest]]);
    assert.deepEqual(listed[0]!.platforms, ['linux/amd64']);
    const fsck = await ocitool(['fsck'], { store });
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  });
}

test('layout tars with and without ./ entries, plain and gzip-compressed, import the same digest', async () => {
  const store = path.join(dir, 'store-tar');
  const withDot = path.join(dir, 'with-dot.tar');
  const noDot = path.join(dir, 'no-dot.tar.gz');
  await mustRun('tar', ['-C', a.gzip, '-cf', withDot, '.']);
  const entries = await readdir(a.gzip);
  await mustRun('tar', ['-C', a.gzip, '-czf', noDot, ...entries]);
  const want = await skopeoManifestDigest(a.gzip, a.tag);
  for (const [file, tag] of [[withDot, 'dot'], [noDot, 'nodot']] as const) {
    const r = await ocitool(['import-oci', file, '--tag', `a:${tag}`, '-q'], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), want);
  }
});

test('names come from the layout annotations when no --tag is given', async () => {
  const store = path.join(dir, 'store-names');
  const r1 = await ocitool(['import-oci', a.gzip], { store });
  assert.equal(r1.code, 2, 'a bare ref name is not an image name');
  assert.match(r1.stderr, /names the image only "v1".*--tag/);
  const index = JSON.parse(await readFile(path.join(a.gzip, 'index.json'), 'utf8'));
  index.manifests[0].annotations['io.containerd.image.name'] = 'registry.example.com/team/app:1.0';
  const named = path.join(dir, 'named');
  await mustRun('cp', ['-r', a.gzip, named]);
  await writeFile(path.join(named, 'index.json'), JSON.stringify(index));
  const r2 = await ocitool(['import-oci', named], { store });
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual((await images(store)).map((i) => i.name), ['registry.example.com/team/app:1.0']);
});

test('two images that share most files store the shared files once, and layers reassemble to their diff_ids', async () => {
  const storeDir = path.join(dir, 'store-share');
  const objects = async () => (await listFiles(path.join(storeDir, 'objects'))).length;
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a'], { store: storeDir })).code, 0);
  const afterA = await objects();
  assert.equal((await ocitool(['import-oci', b.zstd, '--tag', 'b'], { store: storeDir })).code, 0);
  const afterB = await objects();
  // B adds: its 3 changed files, one compressed layer blob, one split stream, config, manifest.
  assert.equal(afterB - afterA, 3 + 1 + 1 + 1 + 1, `objects went from ${afterA} to ${afterB}`);
  const store = await Store.open(storeDir);
  for (const [image, layout] of [[a, a.gzip], [b, b.zstd]] as const) {
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const config = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'));
    assert.equal(config.rootfs.diff_ids.length, image.layerTars.length);
    for (let i = 0; i < image.layerTars.length; i++) {
      const diffId = parseDigest(config.rootfs.diff_ids[i]);
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      for await (const chunk of await store.openLayer(diffId)) {
        hash.update(chunk as Buffer);
        chunks.push(chunk as Buffer);
      }
      assert.equal(`sha256:${hash.digest('hex')}`, diffId);
      assert.ok(Buffer.concat(chunks).equals(await readFile(image.layerTars[i]!)), 'byte-exact tar');
    }
  }
});

test('inspect --manifest and --config print the stored bytes exactly', async () => {
  const store = path.join(dir, 'store-inspect');
  assert.equal((await ocitool(['import-oci', a.zstd, '--tag', 'a'], { store })).code, 0);
  const index = JSON.parse(await readFile(path.join(a.zstd, 'index.json'), 'utf8'));
  const manifestRaw = await readFile(path.join(a.zstd, 'blobs/sha256', index.manifests[0].digest.slice(7)));
  const configRaw = await readFile(path.join(a.zstd, 'blobs/sha256', JSON.parse(manifestRaw.toString()).config.digest.slice(7)));
  assert.equal((await ocitool(['inspect', 'a', '--manifest'], { store })).stdout, manifestRaw.toString());
  assert.equal((await ocitool(['inspect', 'a', '--config'], { store })).stdout, configRaw.toString());
  const summary = JSON.parse((await ocitool(['inspect', 'a'], { store })).stdout);
  assert.equal(summary.digest, index.manifests[0].digest);
});

test('a second import of the same layout writes no new object', async () => {
  const store = path.join(dir, 'store-again');
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a'], { store })).code, 0);
  const before = await listFiles(path.join(store, 'objects'));
  const r = await ocitool(['import-oci', a.gzip, '--tag', 'a2'], { store });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped/);
  assert.deepEqual(await listFiles(path.join(store, 'objects')), before);
});

test('identical files inside one layer, small (hashed in memory) and over 1 MiB (written as they stream), are stored once; the layer reassembles byte for byte', async () => {
  const small = { size: 5000, seed: 7 };
  const large = { size: 3 * 1024 * 1024 + 123, seed: 8 };
  const files = [
    { name: 'a/', type: 'directory' as const },
    { name: 'a/small-1', ...small }, { name: 'a/large-1', ...large },
    { name: 'a/small-2', ...small }, { name: 'a/large-2', ...large },
    { name: 'a/small-3', ...small }, { name: 'a/other', size: 70, seed: 9 },
  ];
  const image = await buildImage(path.join(dir, 'dups'), 'dups', [files]);
  const storeDir = path.join(dir, 'store-dups');
  const r = await ocitool(['import-oci', image.gzip, '--tag', 'dups'], { store: storeDir });
  assert.equal(r.code, 0, r.stderr);
  // Objects: small, large, other (70 bytes is over the 64-byte inline limit), the gzip blob, the
  // split stream, config, manifest. Every duplicate's temp file was removed with staging.
  assert.equal((await listFiles(path.join(storeDir, 'objects'))).length, 3 + 1 + 1 + 1 + 1);
  assert.deepEqual(await readdir(path.join(storeDir, 'staging')), []);
  const store = await Store.open(storeDir);
  const index = JSON.parse(await readFile(path.join(image.gzip, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(image.gzip, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const config = JSON.parse(await readFile(path.join(image.gzip, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'));
  const chunks: Buffer[] = [];
  for await (const chunk of await store.openLayer(parseDigest(config.rootfs.diff_ids[0]))) chunks.push(chunk as Buffer);
  assert.ok(Buffer.concat(chunks).equals(await readFile(image.layerTars[0]!)), 'byte-exact tar');
  assert.equal((await ocitool(['fsck'], { store: storeDir })).code, 0);
});

test('node options a worker thread refuses (V8 ones such as --expose-gc, --max-semi-space-size) do not stop the threads: import, fsverity-digest and checkout run', async () => {
  const { run, cliPath } = await import('../helpers/index.js');
  const storeDir = path.join(dir, 'store-v8-flags');
  const flags = ['--expose-gc', '--max-semi-space-size=2', '--stack-size=900'];
  const cli = (args: string[]) => run(process.execPath, [...flags, cliPath, ...args], { env: { OCITOOL_STORE: storeDir } });
  const imported = await cli(['import-oci', a.gzip, '--tag', 'a']);
  assert.equal(imported.code, 0, imported.stderr);
  // A file over 32 MiB is hashed on more than one thread.
  const big = path.join(dir, 'big-for-threads');
  await writeFile(big, Buffer.alloc(33 * 1024 * 1024, 1));
  const measured = await cli(['fsverity-digest', big]);
  assert.equal(measured.code, 0, measured.stderr);
  assert.equal(measured.stdout, (await ocitool(['fsverity-digest', big])).stdout);
  const out = path.join(dir, 'checkout-v8-flags');
  const checkedOut = await cli(['checkout', 'a', out]);
  assert.equal(checkedOut.code, 0, checkedOut.stderr);
});

test('a failed import through the library leaves no file descriptor open (stopping the file-object thread closes the files it was writing)', async () => {
  const { openStore, importLayout } = await import('../../src/index.js');
  const { copyLayout } = await import('../helpers/layouts.js');
  const layout = await copyLayout(a.gzip, path.join(dir, 'fd-bad-layout'));
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const layerFile = path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7));
  const data = await readFile(layerFile);
  data[data.length - 20] ^= 0x01; // inside the gzip trailer: every file decompresses, the digest is wrong
  await writeFile(layerFile, data);
  const store = await openStore(path.join(dir, 'store-fd'));
  const openFds = async () => (await readdir('/proc/self/fd')).length;
  await importLayout(store, b.gzip, { names: ['warm-up'] }); // another image (a's layer must not be in the store): loads modules, opens what stays open
  const before = await openFds();
  for (let i = 0; i < 3; i++) await assert.rejects(importLayout(store, layout, { names: ['bad'] }), /digest mismatch|incorrect data check/);
  assert.equal(await openFds(), before);
});

test('the library imports a compressed layout tar, as the CLI does (spooled in the operation\'s staging folder, nothing left after)', async () => {
  const { openStore, importLayout } = await import('../../src/index.js');
  const tarGz = path.join(dir, 'a-layout.tar.gz');
  await mustRun('sh', ['-c', `tar -cf - -C '${a.gzip}' . | gzip > '${tarGz}'`]);
  const storeDir = path.join(dir, 'store-lib-targz');
  const result = await importLayout(await openStore(storeDir), tarGz, { names: ['a'] });
  assert.equal(result.descriptor.digest, await skopeoManifestDigest(a.gzip, a.tag));
  assert.deepEqual(await readdir(path.join(storeDir, 'staging')), []);
});
