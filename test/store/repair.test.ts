// Nothing in the store is trusted unseen: a damaged or truncated object is noticed by the next
// import (by size, or by rehashing small blobs) and replaced; a streamed file object replaces a
// damaged copy for free; `fsck` reports damage and `fsck --repair` removes it so an import
// restores it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readlink, realpath, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ocitool, removeDir, tempDir } from '../helpers/index.js';
import { buildImage, type TestImage } from '../helpers/layouts.js';
import { patternBytes, type FileSpec } from '../helpers/images.js';
import { FsVerityHasher } from '../../src/verity/fsverity.js';
import { Store } from '../../src/store/store.js';

let dir: string;
let a: TestImage;
let b: TestImage;

/** A file above the in-memory bound (1 MiB), so it is streamed into its object. */
const BIG = { name: 'usr/lib/big.bin', size: 1536 * 1024, seed: 4242 };
/** A file below it, stored through the in-memory path. */
const SMALL = { name: 'usr/lib/small.bin', size: 20 * 1024, seed: 4343 };

function layerA(): FileSpec[] {
  return [
    { name: 'usr/', type: 'directory' },
    { name: 'usr/lib/', type: 'directory' },
    BIG,
    SMALL,
    { name: 'usr/lib/other.bin', size: 5000, seed: 4444 },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', content: 'ID=repair-test\n' },
  ];
}

/** B's only layer differs from A's but holds the same big file. */
function layerB(): FileSpec[] {
  return [{ name: 'opt/', type: 'directory' }, { ...BIG, name: 'opt/big-copy.bin' }, { name: 'opt/b.bin', size: 3000, seed: 4545 }];
}

before(async () => {
  dir = await tempDir('ocitool-repair-');
  a = await buildImage(dir, 'a', [layerA()]);
  b = await buildImage(dir, 'b', [layerB()]);
});
after(() => removeDir(dir));

const objectOf = (store: string, spec: { size: number; seed: number }) => {
  const id = new FsVerityHasher().update(patternBytes(spec.size, spec.seed)).hex();
  return path.join(store, 'objects', id.slice(0, 2), id.slice(2));
};

async function flipByte(file: string, at = 100): Promise<void> {
  const data = await readFile(file);
  data[at] = data[at]! ^ 0xff;
  await writeFile(file, data);
}

/** The object file behind a blob link. */
async function blobObject(store: string, digest: string): Promise<string> {
  return realpath(path.join(store, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

/** The gzip layout's manifest, read from the layout itself. */
async function manifestOf(layout: string): Promise<{ config: { digest: string }; layers: Array<{ digest: string }> }> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  return JSON.parse(await readFile(path.join(layout, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
}

async function importOk(layout: string, tag: string, store: string): Promise<void> {
  const r = await ocitool(['import-oci', layout, '--tag', tag], { store });
  assert.equal(r.code, 0, r.stderr);
}

async function fsckClean(store: string): Promise<void> {
  const r = await ocitool(['fsck'], { store });
  assert.equal(r.code, 0, `fsck: ${r.stdout}${r.stderr}`);
}

test('a re-import replaces a config and a manifest whose bytes were damaged (small blobs are rehashed)', async () => {
  const store = path.join(dir, 'small-blobs');
  await importOk(a.gzip, 'a', store);
  const manifest = await manifestOf(a.gzip);
  const index = JSON.parse(await readFile(path.join(a.gzip, 'index.json'), 'utf8'));
  const damaged = [manifest.config.digest, index.manifests[0].digest as string];
  for (const digest of damaged) await flipByte(await blobObject(store, digest), 10);
  const broken = await ocitool(['fsck'], { store });
  assert.equal(broken.code, 1);
  for (const digest of damaged) assert.match(broken.stdout, new RegExp(`corrupt-blob: blob ${digest} is corrupt`));
  await importOk(a.gzip, 'a', store);
  await fsckClean(store);
});

test('a streamed file object replaces a damaged copy of the same object (import of another image holding the file)', async () => {
  const store = path.join(dir, 'streamed');
  await importOk(a.gzip, 'a', store);
  const big = objectOf(store, BIG);
  await flipByte(big);
  assert.match((await ocitool(['fsck'], { store })).stdout, /corrupt-object: object .* is corrupt/);
  await importOk(b.gzip, 'b', store);
  assert.ok((await readFile(big)).equals(patternBytes(BIG.size, BIG.seed)), 'the big object holds its bytes again');
  await fsckClean(store);
});

test('a truncated file object is noticed by size: the re-import does not skip the layer and restores it', async () => {
  const store = path.join(dir, 'truncated');
  await importOk(a.gzip, 'a', store);
  for (const spec of [BIG, SMALL]) {
    const file = objectOf(store, spec);
    await truncate(file, spec.size - 7);
    await importOk(a.gzip, 'a', store);
    assert.ok((await readFile(file)).equals(patternBytes(spec.size, spec.seed)), `${spec.name} restored`);
    await fsckClean(store);
  }
  const layerBlob = await blobObject(store, (await manifestOf(a.gzip)).layers[0]!.digest);
  const bytes = await readFile(layerBlob);
  await truncate(layerBlob, bytes.length - 1);
  await importOk(a.gzip, 'a', store);
  assert.ok((await readFile(layerBlob)).equals(bytes), 'layer blob restored');
  await fsckClean(store);
});

test('fsck reports a flipped byte in a file object and a blob; fsck --repair removes them (each named); import restores them', async () => {
  const store = path.join(dir, 'repair');
  await importOk(a.gzip, 'a', store);
  const manifest = await manifestOf(a.gzip);
  const small = objectOf(store, SMALL);
  const config = await blobObject(store, manifest.config.digest);
  await flipByte(small);
  await flipByte(config, 5);
  const layerLink = path.join(store, 'layers', 'sha256');
  const configLink = path.join(store, 'blobs', 'sha256', manifest.config.digest.slice(7));

  const report = await ocitool(['fsck', '--json'], { store });
  assert.equal(report.code, 1);
  const found = JSON.parse(report.stdout);
  assert.equal(found.ok, false);
  const kinds = found.problems.map((p: { kind: string }) => p.kind);
  for (const kind of ['corrupt-object', 'corrupt-blob', 'corrupt-layer']) assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
  assert.deepEqual(found.removed, [], 'plain fsck removes nothing');

  // The damage a size check cannot see: the re-import trusts the layer, so only repair helps.
  const repair = await ocitool(['fsck', '--repair'], { store });
  assert.equal(repair.code, 1, 'the tagged image is incomplete until imported again');
  assert.match(repair.stdout, new RegExp(`removed ${small}: corrupt object`));
  assert.match(repair.stdout, new RegExp(`removed ${config}: corrupt object`));
  assert.match(repair.stdout, new RegExp(`removed ${configLink}: `));
  assert.match(repair.stdout, new RegExp(`removed ${layerLink}/[0-9a-f]{64}: `));
  assert.match(repair.stderr, /pull or import the affected images again/);
  await assert.rejects(readlink(configLink), /ENOENT/);

  const after = await ocitool(['fsck'], { store });
  assert.equal(after.code, 1);
  assert.doesNotMatch(after.stdout, /corrupt-(object|blob|layer)/, 'nothing corrupt is left, only what is missing (and the image that needs it)');
  assert.match(after.stdout, /missing-blob|missing-layer/);

  await importOk(a.gzip, 'a', store);
  await fsckClean(store);
  assert.ok((await readFile(small)).equals(patternBytes(SMALL.size, SMALL.seed)));
});

test('fsck lists every problem, an unreadable tag included, and still checks the readable tags', async () => {
  const store = path.join(dir, 'bad-tag');
  await importOk(a.gzip, 'a', store);
  await importOk(b.gzip, 'b', store);
  await writeFile(path.join(store, 'tags', encodeURIComponent('docker.io/library/broken:latest')), '');
  const manifest = await manifestOf(b.gzip);
  await removeDir(await blobObject(store, manifest.layers[0]!.digest));
  const r = await ocitool(['fsck', '--json'], { store });
  assert.equal(r.code, 1);
  const kinds = JSON.parse(r.stdout).problems.map((p: { kind: string; object: string }) => `${p.kind} ${p.object}`);
  assert.ok(kinds.some((k: string) => k.startsWith('bad-tag docker.io/library/broken:latest')), kinds.join('\n'));
  assert.ok(kinds.some((k: string) => k === `dangling-link ${path.join(store, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7))}`), kinds.join('\n'));
  assert.ok(kinds.some((k: string) => k === `missing-blob ${manifest.layers[0]!.digest}`), `the readable tag b is walked:\n${kinds.join('\n')}`);
});

test('a sink offers its staging folder as scratch space, removed with it on abort, and the lock is released', async () => {
  const storeDir = path.join(dir, 'scratch');
  const store = await Store.open(storeDir);
  const sink = await store.createSink();
  assert.equal(path.dirname(sink.scratchDir), path.join(storeDir, 'staging'));
  await writeFile(path.join(sink.scratchDir, 'spool.tar'), 'spooled');
  await sink.abort();
  await assert.rejects(readFile(path.join(sink.scratchDir, 'spool.tar')), /ENOENT/);
  const repair = await ocitool(['fsck', '--repair'], { store: storeDir });
  assert.equal(repair.code, 0, 'the exclusive lock is free again');
  assert.match(repair.stdout, /0 problems, 0 removed/);
});
