// `ocitool df`: the store's size, per image shared and unique bytes, and what gc would free,
// on a store made by importing the shipped fixture and two generated images sharing a file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeOciLayout, writeRootfsTar } from '../helpers/images.js';
import { listFiles, ocitool, removeDir, repoRoot, tempDir } from '../helpers/index.js';
import type { StoreUsage } from '../../src/cli/commands/df.js';

const KiB = 1024;

async function df(store: string): Promise<StoreUsage> {
  const r = await ocitool(['df', '--json'], { store });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return JSON.parse(r.stdout) as StoreUsage;
}

test('df: per image shared and unique bytes, reclaimable after rm, and what gc frees', async () => {
  const dir = await tempDir();
  try {
    const store = path.join(dir, 'store');
    // Two images sharing one 200 KiB file; each also has a 100 KiB file of its own.
    const layouts: string[] = [];
    for (const [name, seed] of [['two', 2], ['three', 3]] as const) {
      const tar = path.join(dir, `${name}.tar`);
      await writeRootfsTar(tar, [
        { name: 'usr/share/common.bin', size: 200 * KiB, seed: 7 },
        { name: `usr/share/${name}.bin`, size: 100 * KiB, seed },
      ]);
      const layout = path.join(dir, `${name}-layout`);
      await mkdir(layout);
      await writeOciLayout(layout, [tar], 'v1');
      layouts.push(layout);
    }
    const imports: Array<[string, string]> = [[path.join(repoRoot, 'fixtures', 'hello-oci'), 'hello'], [layouts[0]!, 'two'], [layouts[1]!, 'three'], [layouts[1]!, 'three:again']];
    for (const [layout, tag] of imports) {
      const r = await ocitool(['import-oci', layout, '--tag', tag, '-q'], { store });
      assert.equal(r.code, 0, r.stderr);
    }
    const usage = await df(store);
    assert.equal(usage.store, store);
    assert.equal(usage.images.length, 3, 'two tags of one digest are one image');
    const byName = (name: string) => usage.images.find((i) => i.names.includes(name))!;
    const hello = byName('docker.io/library/hello:latest');
    const two = byName('docker.io/library/two:latest');
    const three = byName('docker.io/library/three:latest');
    assert.deepEqual(three.names, ['docker.io/library/three:again', 'docker.io/library/three:latest']);
    assert.deepEqual(hello.platforms, ['linux/amd64']);
    assert.equal(hello.shared, 0);
    assert.equal(hello.unique, hello.size);
    // Exactly the common file is shared; each image's own file is in its unique part.
    assert.equal(two.shared, 200 * KiB);
    assert.equal(three.shared, 200 * KiB);
    assert.ok(two.unique >= 100 * KiB && three.unique >= 100 * KiB);
    assert.equal(usage.reclaimable.bytes, 0);
    // Every object byte is either one image's unique part, the shared file (once), or reclaimable.
    const sumUnique = usage.images.reduce((n, i) => n + i.unique, 0);
    assert.equal(usage.objects.bytes, sumUnique + 200 * KiB);
    assert.equal(usage.objects.count, (await listFiles(path.join(store, 'objects'))).length);
    assert.ok(usage.totalBytes > usage.objects.bytes && usage.allocatedBytes > 0);
    assert.equal(usage.totalBytes, usage.objects.bytes + usage.staging.bytes + usage.metadataBytes);

    // Removing "two" makes its unique bytes reclaimable and the common file unique to "three".
    assert.equal((await ocitool(['rm', 'two'], { store })).code, 0);
    const after = await df(store);
    assert.equal(after.images.length, 2);
    assert.equal(after.reclaimable.objectBytes, two.unique);
    assert.equal(after.reclaimable.objects, two.objects - 1);
    assert.equal(after.images.find((i) => i.names.includes('docker.io/library/three:latest'))!.shared, 0);
    // gc frees exactly what df called reclaimable, and then nothing is.
    const gc = await ocitool(['gc', '--json'], { store });
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal(JSON.parse(gc.stdout).removedObjects, after.reclaimable.objects);
    assert.equal(JSON.parse(gc.stdout).removedBytes, after.reclaimable.objectBytes);
    const clean = await df(store);
    assert.equal(clean.reclaimable.bytes, 0);
    assert.equal(clean.objects.bytes, after.objects.bytes - after.reclaimable.objectBytes);

    const text = await ocitool(['df'], { store });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^store ${store.replace(/[/.]/g, '\\$&')}: `));
    assert.match(text.stdout, /^NAME +DIGEST +SIZE +SHARED +UNIQUE$/m);
    assert.match(text.stdout, /^docker\.io\/library\/three:again +sha256:[0-9a-f]{12} /m);
  } finally {
    await removeDir(dir);
  }
});

test('df on an empty store reports zero and no images', async () => {
  const dir = await tempDir();
  try {
    const usage = await df(path.join(dir, 'store'));
    assert.deepEqual(usage.images, []);
    assert.equal(usage.objects.bytes, 0);
    assert.equal(usage.reclaimable.bytes, 0);
  } finally {
    await removeDir(dir);
  }
});
