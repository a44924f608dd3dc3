// Opening a store: concurrent first opens never see a half-written meta.json, and a folder that
// is not a store is refused instead of being filled with one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { Store } from '../../src/store/store.js';

let dir: string;

before(async () => {
  dir = await tempDir();
});
after(() => removeDir(dir));

test('eight processes opening one new store at once all succeed and leave one valid meta.json', async () => {
  for (let round = 0; round < 4; round++) {
    const store = path.join(dir, `new-${round}`);
    const results = await Promise.all(Array.from({ length: 8 }, () => ocitool(['fsck', '--json'], { store })));
    for (const r of results) assert.equal(r.code, 0, `round ${round}: ${r.stderr}`);
    assert.equal(JSON.parse(await readFile(path.join(store, 'meta.json'), 'utf8')).version, 1);
    assert.deepEqual((await listFiles(store)).filter((f) => !f.startsWith('locks/')), ['meta.json'], 'no temp files left');
  }
});

test('opens of one new store started one after another while the first ones create it all succeed', async () => {
  for (let round = 0; round < 30; round++) {
    const root = path.join(dir, `staggered-${round}`);
    const opens: Array<Promise<unknown>> = [];
    for (let i = 0; i < 16; i++) {
      opens.push(Store.open(root).then(() => 'ok', (err: Error) => err.message));
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(new Set(await Promise.all(opens)), new Set(['ok']), `round ${round}`);
  }
});

test('--store pointing at a folder that holds other things and no meta.json is refused and left alone', async () => {
  const notStore = path.join(dir, 'home');
  await mkdir(path.join(notStore, 'photos'), { recursive: true });
  await writeFile(path.join(notStore, 'notes.txt'), 'mine');
  const before = await listFiles(notStore);
  for (const args of [['images'], ['gc'], ['fsck']]) {
    const r = await ocitool(['--store', notStore, ...args]);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, new RegExp(`^ocitool: ${notStore} is not an ocitool store \\(no meta.json, and it holds "notes.txt" and 1 more\\); give --store an empty or new folder\\n$`));
  }
  assert.deepEqual(await listFiles(notStore), before);
  const empty = path.join(dir, 'empty');
  await mkdir(empty);
  assert.equal((await ocitool(['--store', empty, 'fsck'])).code, 0, 'an empty folder becomes a store');
});
