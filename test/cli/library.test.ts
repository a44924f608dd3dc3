// The public library API (src/index.ts) end to end: import the fixture layout, list, save to a
// tar and load it into another store, convert a docker archive written by skopeo, and pull from a
// real registry, with progress events through a reporter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { convert, importLayout, listImages, load, OcitoolError, openStore, pull, save, type ProgressEvent } from '../../src/index.js';
import { skopeoToDockerArchive } from '../archive/helpers.js';
import { removeDir, repoRoot, tempDir } from '../helpers/index.js';
import { startRegistry } from '../helpers/registry.js';
import { pushSingleLayer } from '../registry/fixtures.js';

const fixture = path.join(repoRoot, 'fixtures', 'hello-oci');

test('library: importLayout, listImages, save, load, convert', async () => {
  const dir = await tempDir();
  try {
    const digest = JSON.parse(await readFile(path.join(fixture, 'index.json'), 'utf8')).manifests[0].digest as string;
    const a = await openStore(path.join(dir, 'a'));
    const events: ProgressEvent[] = [];
    const imported = await importLayout(a, fixture, { names: ['hello', 'hello:1'], platform: 'x86_64', reporter: (e) => events.push(e) });
    assert.equal(imported.descriptor.digest, digest);
    assert.ok(events.some((e) => e.type === 'started' && e.kind === 'layer'));
    assert.deepEqual((await listImages(a)).map((i) => [i.name, i.digest, i.platforms]), [
      ['docker.io/library/hello:1', digest, ['linux/amd64']],
      ['docker.io/library/hello:latest', digest, ['linux/amd64']],
    ]);
    await assert.rejects(importLayout(a, fixture, { names: ['x'], platform: 'arm64' }), (e: unknown) => e instanceof OcitoolError && e.code === 'PLATFORM');

    const tar = path.join(dir, 'hello.tar');
    const saved = await save(a, ['hello:1'], tar, { refs: { 'hello:1': 'one' } });
    assert.equal(saved[0]!.descriptor.digest, digest);
    const b = await openStore(path.join(dir, 'b'));
    const loaded = await load(b, tar, { name: 'again' });
    assert.deepEqual(loaded.map((r) => [r.names, r.descriptor.digest]), [[['docker.io/library/again:one'], digest]]);

    const archive = path.join(dir, 'hello-docker.tar');
    await skopeoToDockerArchive(fixture, 'latest', archive, 'hello:latest');
    const folder = path.join(dir, 'converted');
    const converted = await convert(archive, folder, { compress: 'zstd' });
    assert.equal(converted.length, 1);
    const index = JSON.parse(await readFile(path.join(folder, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, converted[0]!.descriptor.digest);
    const c = await openStore(path.join(dir, 'c'));
    assert.equal((await importLayout(c, folder, { names: ['converted'] })).descriptor.digest, converted[0]!.descriptor.digest);
  } finally {
    await removeDir(dir);
  }
});

test('library: pull from a registry into the store, platforms as text', async () => {
  const registry = await startRegistry();
  const dir = await tempDir();
  try {
    const ref = `${registry.host}/lib/one:v1`;
    await pushSingleLayer(ref);
    const store = await openStore(path.join(dir, 'store'));
    const result = await pull(store, ref, { platforms: ['linux/x86_64'] });
    const [image] = await listImages(store);
    assert.equal(image!.name, ref);
    assert.equal(image!.digest, result.descriptor.digest);
    assert.deepEqual(image!.platforms, ['linux/amd64']);
  } finally {
    await registry.stop();
    await removeDir(dir);
  }
});
