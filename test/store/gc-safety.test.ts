// gc never deletes what a tag may reach: it removes nothing when tags/ or any tag or any tag's
// graph cannot be read; it removes the staging folders of dead operations only (live ones hold
// the lock shared), and counts what it frees.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exists } from '../../src/util/fs.js';
import { listFiles, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { buildImage, imageAFiles, imageBFiles, type TestImage } from '../helpers/layouts.js';
import { sampleRootfs } from '../helpers/images.js';
import { cliPath } from '../helpers/index.js';
import { readdir } from 'node:fs/promises';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lock-worker.js');
let dir: string;
let a: TestImage;
let b: TestImage;

before(async () => {
  dir = await tempDir();
  a = await buildImage(dir, 'a', imageAFiles());
  b = await buildImage(dir, 'b', imageBFiles());
});
after(() => removeDir(dir));

/** Everything in the store but the lock folder (lock owner files come and go with each command). */
const contents = async (store: string) => (await listFiles(store)).filter((f) => !f.startsWith('locks/'));

/** A store with a and b imported and b removed again, so gc would have something to remove. */
async function storeWithGarbage(name: string): Promise<string> {
  const store = path.join(dir, name);
  for (const [layout, tag] of [[a.gzip, 'a'], [b.gzip, 'b']] as const) {
    const r = await ocitool(['import-oci', layout, '--tag', tag, '-q'], { store });
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal((await ocitool(['rm', 'b'], { store })).code, 0);
  const dry = JSON.parse((await ocitool(['gc', '--dry-run', '--json'], { store })).stdout);
  assert.ok(dry.removedObjects > 0, 'b left garbage');
  return store;
}

async function assertGcRefuses(store: string, pattern: RegExp): Promise<void> {
  const before = await contents(store);
  const r = await ocitool(['gc'], { store });
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^ocitool: gc stopped, nothing removed: /);
  assert.match(r.stderr, pattern);
  assert.deepEqual(await contents(store), before, 'gc removed nothing');
}

test('gc on a store with one missing config link removes nothing: the layers the tagged manifest names stay', async () => {
  const store = await storeWithGarbage('config-link');
  const manifest = JSON.parse((await ocitool(['inspect', 'a', '--manifest'], { store })).stdout);
  const configLink = path.join(store, 'blobs', 'sha256', manifest.config.digest.slice('sha256:'.length));
  await rm(configLink);
  await assertGcRefuses(store, new RegExp(`missing-blob: blob ${manifest.config.digest}.* is missing \\(run ocitool fsck\\)`));
  // Importing a again brings the link back; then gc removes b's leftovers and fsck is clean.
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a', '-q'], { store })).code, 0);
  const gc = await ocitool(['gc', '--json'], { store });
  assert.equal(gc.code, 0, gc.stderr);
  assert.ok(JSON.parse(gc.stdout).removedObjects > 0);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
});

test('gc refuses when tags/ is a file, when it is missing, and when one tag is empty (a crash before the fix)', async () => {
  const store = await storeWithGarbage('tags-bad');
  const tags = path.join(store, 'tags');
  await rename(tags, `${tags}.saved`);
  await writeFile(tags, 'not a folder');
  await assertGcRefuses(store, /store tags .*tags: ENOTDIR/);
  await rm(tags);
  await assertGcRefuses(store, /the tags folder .* is missing/);
  await rename(`${tags}.saved`, tags);
  await writeFile(path.join(tags, encodeURIComponent('docker.io/library/a:latest')), '');
  await assertGcRefuses(store, /1 tag cannot be read, first docker\.io\/library\/a:latest \(.*\): .*ocitool rm the tag/);
});

test('one unreadable tag: images lists the others, names the bad one on stderr and exits 1; rm removes it', async () => {
  const store = path.join(dir, 'images-bad');
  for (const [layout, tag] of [[a.gzip, 'a'], [b.gzip, 'b']] as const) assert.equal((await ocitool(['import-oci', layout, '--tag', tag, '-q'], { store })).code, 0);
  const badFile = path.join(store, 'tags', encodeURIComponent('docker.io/library/a:latest'));
  await writeFile(badFile, '{"name":');
  const r = await ocitool(['images', '--json'], { store });
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout).map((i: { name: string }) => i.name), ['docker.io/library/b:latest']);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, /^ocitool: tag docker\.io\/library\/a:latest \(.*docker\.io%2Flibrary%2Fa%3Alatest\) cannot be read: .*JSON/);
  assert.match(lines[1]!, /^ocitool: 1 image could not be listed \(run ocitool fsck\)$/);
  const rmBad = await ocitool(['rm', 'a'], { store });
  assert.equal(rmBad.code, 0, rmBad.stderr);
  assert.equal((await ocitool(['images'], { store })).code, 0);
});

test('rm of several names removes every one it has, reports each, then fails naming the missing one', async () => {
  const store = path.join(dir, 'rm-all-it-can');
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a', '--tag', 'b', '-q'], { store })).code, 0);
  const r = await ocitool(['rm', 'nosuch', 'a', 'b'], { store });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, 'removed docker.io/library/a:latest\nremoved docker.io/library/b:latest\n');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /no image named docker\.io\/library\/nosuch:latest/);
  assert.equal(JSON.parse((await ocitool(['images', '--json'], { store })).stdout).length, 0);
});

function holdShared(lockDir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, 'hold', lockDir, 'shared'], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('held') && resolve(child));
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`holder exited ${code}`)));
  });
}

test('gc leaves the staging folder of a live operation (it holds the lock shared) and removes dead ones, counting their bytes', async () => {
  const store = path.join(dir, 'staging');
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a', '-q'], { store })).code, 0);
  const live = await holdShared(path.join(store, 'locks'));
  const liveStaging = path.join(store, 'staging', `${live.pid}-live`);
  await mkdir(liveStaging);
  await writeFile(path.join(liveStaging, 't0'), Buffer.alloc(3000, 1));
  try {
    const r = await ocitool(['--wait', '0.5', 'gc'], { store });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`locked by process ${live.pid} .*gave up after 0.5 s`));
    assert.ok(await exists(path.join(liveStaging, 't0')), 'the live operation keeps its files');
  } finally {
    await new Promise<void>((resolve) => {
      live.removeAllListeners('close');
      live.on('close', () => resolve());
      live.kill('SIGKILL');
    });
  }
  // Its owner died: the folder is a leftover now, as is the lock file of a pre-flock ocitool.
  await writeFile(path.join(store, 'locks', 'exclusive'), '12345');
  await writeFile(path.join(store, '.meta.json.tmp-12345-abcd'), '{"vers');
  const gc = await ocitool(['gc', '--json'], { store });
  assert.equal(gc.code, 0, gc.stderr);
  const result = JSON.parse(gc.stdout);
  assert.equal(result.removedStaging, 1);
  assert.equal(result.removedStagingBytes, 3000);
  assert.equal(result.removedLeftoverFiles, 3, 'the dead holder owner file, locks/exclusive and a meta.json temp file');
  assert.ok(!(await exists(path.join(store, '.meta.json.tmp-12345-abcd'))));
  assert.deepEqual(await listFiles(path.join(store, 'staging')), []);
  assert.deepEqual(await listFiles(path.join(store, 'locks')), ['store.lock']);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
});

test('gc killed at random moments while it deletes leaves a store fsck finds clean, and the next gc completes', async () => {
  const store = path.join(dir, 'killed-gc');
  const many = await buildImage(dir, 'many', [sampleRootfs(7, 1200, 4096)]);
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a', '-q'], { store })).code, 0);
  const locks = path.join(store, 'locks');
  for (let round = 0; round < 4; round++) {
    assert.equal((await ocitool(['import-oci', many.gzip, '--tag', 'many', '-q'], { store })).code, 0);
    assert.equal((await ocitool(['rm', 'many'], { store })).code, 0);
    const child = spawn(process.execPath, [cliPath, 'gc'], { env: { ...process.env, OCITOOL_STORE: store }, stdio: 'ignore' });
    const closed = new Promise((resolve) => child.on('close', resolve));
    // Once this gc holds the lock (its owner file is there), kill it a few milliseconds later.
    let exited = false;
    void closed.then(() => (exited = true));
    while (!exited && !(await readdir(locks)).some((n) => n.startsWith(`owner-${child.pid}-`))) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, round * 12));
    child.kill('SIGKILL');
    await closed;
    const fsck = await ocitool(['fsck'], { store });
    assert.equal(fsck.code, 0, `round ${round}: ${fsck.stdout}`);
  }
  const gc = await ocitool(['gc'], { store });
  assert.equal(gc.code, 0, gc.stderr);
  assert.equal(JSON.parse((await ocitool(['gc', '--dry-run', '--json'], { store })).stdout).removedObjects, 0);
  assert.deepEqual(JSON.parse((await ocitool(['images', '--json'], { store })).stdout).map((i: { name: string }) => i.name), ['docker.io/library/a:latest']);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
});
