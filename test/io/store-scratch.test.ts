// Scratch files of store operations live in the operation's own staging folder, under the shared
// lock (issue 7, defect 3 and "leftovers"): `load` from a slow stdin survives a `gc` started
// meanwhile; a killed import of a .tar.gz leaves its spool in the store's staging (which gc
// collects), never in TMPDIR; `save` holds the lock while it reads, so gc cannot delete what it saves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { exitOf, spawnCli, storeWithImage, until } from './helpers.js';

let dir: string;
let source: string;
let archive: Buffer;

before(async () => {
  dir = await tempDir('ocitool-io-store-');
  source = path.join(dir, 'source-store');
  await storeWithImage(dir, source, 'big:1', 2 * 1024 * 1024);
  const tarFile = path.join(dir, 'big.tar');
  const r = await ocitool(['save', 'big:1', '-o', tarFile], { store: source });
  assert.equal(r.code, 0, r.stderr);
  archive = gzipSync(await readFile(tarFile));
});
after(() => removeDir(dir));

/** A spool file (archive-*\/archive.tar) with bytes in it, anywhere under `root`. */
async function findSpool(root: string): Promise<string | undefined> {
  const walk = async (d: string): Promise<string | undefined> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        const found = await walk(p);
        if (found) return found;
      } else if (e.name === 'archive.tar' && (await stat(p)).size > 0) return p;
    }
    return undefined;
  };
  return walk(root);
}

test('load from a slow stdin, then gc: gc waits for the load, both succeed, fsck is clean', async () => {
  const store = path.join(dir, 'store-load');
  const load = spawnCli(['load', '--name', 'slow'], store);
  load.stdin!.write(archive.subarray(0, archive.length >> 1));
  await until(async () => (await findSpool(path.join(store, 'staging'))) !== undefined, 'the load to spool stdin in its staging folder');
  const gc = spawnCli(['gc'], store);
  await until(() => /wait/i.test(gc.stderrText()), 'gc to wait for the store lock');
  load.stdin!.end(archive.subarray(archive.length >> 1));
  assert.equal(await exitOf(load), 0, load.stderrText());
  assert.equal(await exitOf(gc), 0, gc.stderrText());
  const images = await ocitool(['images'], { store });
  assert.match(images.stdout, /slow/);
  const fsck = await ocitool(['fsck'], { store });
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
});

test('a killed import-oci of a .tar.gz leaves its spool in the store staging, not in TMPDIR; gc collects it', async () => {
  const store = path.join(dir, 'store-kill');
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp);
  const fifo = path.join(dir, 'layout.tar.gz');
  execFileSync('mkfifo', [fifo]);
  const child = spawnCli(['import-oci', fifo, '--tag', 'killed:1'], store, { TMPDIR: tmp, OCITOOL_TMPDIR: tmp });
  const feed = createWriteStream(fifo);
  feed.on('error', () => {}); // the reader is killed below; the broken pipe is expected
  feed.write(archive.subarray(0, archive.length >> 1));
  await until(async () => (await findSpool(path.join(store, 'staging'))) !== undefined, 'the import to spool in its staging folder');
  child.kill('SIGKILL');
  await exitOf(child);
  feed.destroy();
  assert.deepEqual(await readdir(tmp), [], 'nothing in TMPDIR');
  assert.ok((await findSpool(path.join(store, 'staging')))!.startsWith(path.join(store, 'staging', `${child.pid}-`)), 'the spool is in the killed operation\'s staging folder');
  const gc = await ocitool(['gc'], { store });
  assert.equal(gc.code, 0, gc.stderr);
  assert.equal(await findSpool(path.join(store, 'staging')), undefined);
});

test('save holds the store lock while it reads: rm + gc started during a save wait for it, and the tar is whole', async () => {
  const store = path.join(dir, 'store-save');
  await storeWithImage(dir, store, 'saved:1', 2 * 1024 * 1024, 3);
  const save = spawnCli(['save', 'saved:1'], store);
  const chunks: Buffer[] = [];
  save.stdout!.pause(); // do not read yet: the save blocks with the layer half written
  await new Promise<void>((resolve) => save.stdout!.once('readable', () => resolve()));
  assert.equal((await ocitool(['rm', 'saved:1'], { store })).code, 0);
  const gc = spawnCli(['gc'], store);
  await until(() => /wait/i.test(gc.stderrText()), 'gc to wait for the store lock');
  save.stdout!.on('data', (c: Buffer) => chunks.push(c));
  save.stdout!.resume();
  assert.equal(await exitOf(save), 0, save.stderrText());
  assert.equal(await exitOf(gc), 0, gc.stderrText());
  const out = path.join(dir, 'saved.tar');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(out, Buffer.concat(chunks));
  const loaded = await ocitool(['load', '-i', out, '-q'], { store: path.join(dir, 'store-reload') });
  assert.equal(loaded.code, 0, loaded.stderr);
  await mustRun('tar', ['-tf', out]);
});
