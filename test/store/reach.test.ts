// What a tag reaches when part of its graph is missing: gc must never delete what the tag may
// reach. With the config link gone, the layers' diff_ids cannot be known, so gc removes nothing
// and fsck names both the missing blob and the image it leaves unreadable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { buildImage, imageAFiles, type TestImage } from '../helpers/layouts.js';

let dir: string;
let a: TestImage;

before(async () => {
  dir = await tempDir();
  a = await buildImage(dir, 'a', imageAFiles());
});
after(() => removeDir(dir));

test('gc with a tagged manifest whose config link is missing removes nothing; fsck names the config and the image', async () => {
  const store = path.join(dir, 'store');
  const imported = await ocitool(['import-oci', a.gzip, '--tag', 'a', '-q'], { store });
  assert.equal(imported.code, 0, imported.stderr);
  const manifestDigest = imported.stdout.trim();
  const manifest = JSON.parse(await readFile(path.join(store, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8'));
  await rm(path.join(store, 'blobs', 'sha256', manifest.config.digest.slice(7)));
  const before = await listFiles(store);

  const gc = await ocitool(['gc'], { store });
  assert.equal(gc.code, 1, gc.stdout + gc.stderr);
  assert.match(gc.stderr, /nothing removed/);
  assert.match(gc.stderr, new RegExp(`${manifest.config.digest}.* is missing`));
  const after = await listFiles(store);
  for (const layer of manifest.layers as { digest: string }[]) assert.ok(after.includes(path.join('blobs', 'sha256', layer.digest.slice(7))), `layer ${layer.digest} kept`);
  assert.deepEqual(after.filter((f) => f.startsWith('layers') || f.startsWith('objects')), before.filter((f) => f.startsWith('layers') || f.startsWith('objects')));

  const fsck = await ocitool(['fsck'], { store });
  assert.equal(fsck.code, 1);
  assert.match(fsck.stdout + fsck.stderr, new RegExp(`missing-blob: blob ${manifest.config.digest}`));
});
