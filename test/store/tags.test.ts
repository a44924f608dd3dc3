// Tags: written in crash order (temp file, fsync, rename, fsync of tags/), any valid reference fits
// in a file name (long ones are hashed), and tag files written before that are still read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { cliPath, ocitool, removeDir, run, tempDir } from '../helpers/index.js';
import { buildImage, imageAFiles, type TestImage } from '../helpers/layouts.js';

let dir: string;
let a: TestImage;

before(async () => {
  dir = await tempDir();
  a = await buildImage(dir, 'a', imageAFiles());
});
after(() => removeDir(dir));

const images = async (store: string) => {
  const r = await ocitool(['images', '--json'], { store });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).map((i: { name: string }) => i.name) as string[];
};

// 11 path components and a long tag: 369 characters, 395 once URI-encoded (NAME_MAX is 255).
const longName = `registry.example.com:5000/${Array.from({ length: 11 }, (_, i) => `component${i}-abcdefghij`.slice(0, 21)).join('/')}:${'t'.repeat(100)}`;

test('a tag whose encoded name is over 255 bytes is stored, listed, inspected, kept by gc and removed', async () => {
  assert.ok(encodeURIComponent(longName).length > 255);
  const store = path.join(dir, 'long');
  const r = await ocitool(['import-oci', a.gzip, '--tag', longName, '-q'], { store });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await images(store), [longName]);
  const files = await readdir(path.join(store, 'tags'));
  assert.equal(files.length, 1);
  assert.ok(Buffer.byteLength(files[0]!) <= 255 && files[0]!.includes('@sha256-'), files[0]);
  assert.equal(JSON.parse(await readFile(path.join(store, 'tags', files[0]!), 'utf8')).name, longName);
  assert.equal((await ocitool(['inspect', longName], { store })).code, 0);
  assert.equal(JSON.parse((await ocitool(['gc', '--dry-run', '--json'], { store })).stdout).removedObjects, 0);
  assert.equal((await ocitool(['rm', longName], { store })).code, 0);
  assert.deepEqual(await images(store), []);
});

test('a tag file named by its encoded name of 201-255 bytes (before hashing) is still read, and replaced on the next write', async () => {
  const store = path.join(dir, 'legacy');
  const name = `docker.io/example/${'x'.repeat(200)}:1`;
  const encoded = encodeURIComponent(name);
  assert.ok(encoded.length > 200 && encoded.length <= 255);
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', name, '-q'], { store })).code, 0);
  const [hashed] = await readdir(path.join(store, 'tags'));
  await rename(path.join(store, 'tags', hashed!), path.join(store, 'tags', encoded));
  assert.deepEqual(await images(store), [name]);
  assert.equal((await ocitool(['inspect', name], { store })).code, 0);
  assert.equal(JSON.parse((await ocitool(['gc', '--dry-run', '--json'], { store })).stdout).removedObjects, 0);
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', name, '-q'], { store })).code, 0);
  assert.deepEqual(await readdir(path.join(store, 'tags')), [hashed]);
  assert.deepEqual(await images(store), [name]);
});

/** strace -f splits a call that another thread interrupts: put it back together where it returned. */
function joinResumed(raw: string[]): string[] {
  const pending = new Map<string, string>();
  const out: string[] = [];
  for (const line of raw) {
    const pid = line.split(' ')[0]!;
    const unfinished = / <unfinished \.\.\.>$/.exec(line);
    if (unfinished) {
      pending.set(pid, line.slice(0, unfinished.index));
      continue;
    }
    const resumed = /^\S+\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    out.push(resumed && pending.has(pid) ? `${pending.get(pid)}${resumed[1]}` : line);
    if (resumed) pending.delete(pid);
  }
  return out;
}

test('a tag is written in crash order: its temp file is fsynced before the rename, and tags/ after it', async () => {
  const store = path.join(dir, 'order');
  const trace = path.join(dir, 'order.trace');
  const r = await run('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,fsync,rename,renameat,renameat2,close', process.execPath, cliPath, 'import-oci', a.gzip, '--tag', 'a', '-q'], { env: { OCITOOL_STORE: store } });
  assert.equal(r.code, 0, r.stderr);
  const lines = joinResumed((await readFile(trace, 'utf8')).split('\n'));
  const at = (re: RegExp, from = 0) => {
    const i = lines.findIndex((l, n) => n >= from && re.test(l));
    assert.ok(i >= 0, `no ${re} after line ${from + 1} in the trace`);
    return i;
  };
  const open = at(/openat\(.*\/staging\/[^/]+\/tag-[0-9a-f]+", O_WRONLY\|O_CREAT\|O_EXCL.*\) = \d+/);
  const fd = /= (\d+)$/.exec(lines[open]!)![1];
  const renamed = at(/rename.*\/tag-[0-9a-f]+".*tags\/docker\.io%2Flibrary%2Fa%3Alatest"/, open);
  const synced = at(new RegExp(`fsync\\(${fd}\\)`), open);
  assert.ok(synced < renamed, 'the temp file is fsynced before it is renamed over the tag');
  const openDir = at(new RegExp(`openat\\(.*/tags", O_RDONLY.*\\) = \\d+`), renamed);
  const dirFd = /= (\d+)$/.exec(lines[openDir]!)![1];
  at(new RegExp(`fsync\\(${dirFd}\\)`), openDir);
});
