// Every output failure is one line naming the path and the cause, exit 1 (issue 7, defect 9), and
// outputs are crash-ordered with recognisable scratch names that the next run removes (items 5,
// 11 "leftovers"): save -o into a missing, read-only or full folder; special files and /proc as
// outputs; `save | head -c 100`; killed and failed save/convert leave nothing a next run keeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile, chmod, stat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { cliPath, mustRun, ocitool, removeDir, run, tempDir } from '../helpers/index.js';
import { deadPid, errorLines, exitOf, hasStackTrace, mountTmpfs, spawnCli, storeWithImage, until } from './helpers.js';

let dir: string;
let store: string;
const isRoot = process.getuid?.() === 0;

before(async () => {
  dir = await tempDir('ocitool-io-out-');
  store = path.join(dir, 'store');
  // 2 MiB of incompressible bytes: more than the small tmpfs below and than a pipe buffer.
  await storeWithImage(dir, store, 'big:1', 2 * 1024 * 1024);
});
after(() => removeDir(dir));

function assertOneLine(r: { code: number | null; stderr: string }, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.ok(!hasStackTrace(r.stderr), `no stack trace:\n${r.stderr}`);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, message);
}

test('save -o into a missing folder: one line naming the folder, exit 1', async () => {
  const out = path.join(dir, 'no-such-folder', 'x.tar');
  const r = await ocitool(['save', 'big:1', '-o', out], { store });
  assertOneLine(r, new RegExp(`folder ${path.dirname(out).replace(/[/.]/g, '\\$&')} does not exist`));
});

test('save -o into a folder that cannot be written: one line naming it, exit 1, nothing left there', async () => {
  const ro = path.join(dir, 'read-only');
  let cleanup = async () => {};
  if (isRoot) cleanup = await mountTmpfs(ro, '1m', ['ro']); // root ignores modes; a read-only mount stops it
  else {
    await mkdir(ro);
    await chmod(ro, 0o555);
  }
  try {
    const r = await ocitool(['save', 'big:1', '-o', path.join(ro, 'x.tar')], { store });
    assertOneLine(r, new RegExp(`${ro.replace(/[/.]/g, '\\$&')}: cannot write x\\.tar in this folder: (read-only file system \\(EROFS\\)|permission denied \\(EACCES\\))`));
    assert.deepEqual(await readdir(ro), []);
  } finally {
    await cleanup();
  }
});

test('save to a full disk (1 MiB tmpfs, mounted as root): one line naming the file and ENOSPC, exit 1, no partial file left', async () => {
  const full = path.join(dir, 'full');
  const cleanup = await mountTmpfs(full, '1m');
  try {
    const out = path.join(full, 'x.tar');
    const r = await ocitool(['save', 'big:1', '-o', out], { store });
    assertOneLine(r, new RegExp(`${out.replace(/[/.]/g, '\\$&')}: cannot write: no space left on the device \\(ENOSPC\\)`));
    assert.deepEqual(await readdir(full), [], 'the scratch file is removed');
  } finally {
    await cleanup();
  }
});

test('convert -o and pull --layout under /proc, and outputs that are devices, pipes or folders, are refused at once', async () => {
  const fixture = path.join(dir, 'saved.tar');
  assert.equal((await ocitool(['save', 'big:1', '-o', fixture], { store })).code, 0);
  const cases: [string[], RegExp][] = [
    [['convert', fixture, '-o', '/proc/ocitool-test.tar'], /\/proc\/ocitool-test\.tar: \/proc is on procfs, not a file system for files/],
    [['convert', fixture, '-o', '/proc/ocitool-test'], /\/proc\/ocitool-test: \/proc is on procfs/],
    [['convert', fixture, '-o', '/sys/kernel/ocitool-test'], /on sysfs/],
    [['pull', '--layout', '/proc/ocitool-test', '127.0.0.1:9/never/asked:1'], /\/proc\/ocitool-test: \/proc is on procfs/],
    [['save', 'big:1', '-o', '/dev/full'], /\/dev\/full: is a device; the output must be a regular file path/],
    [['save', 'big:1', '-o', dir], /is a folder; the output must be a regular file path/],
    [['convert', fixture, '-o', path.join(fixture, 'sub')], /is not a folder/],
  ];
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  cases.push([['save', 'big:1', '-o', fifo], /fifo: is a pipe; the output must be a regular file path/]);
  for (const [args, message] of cases) {
    // Killed after a minute: before the fix, /proc outputs spun at full CPU for over ten minutes.
    const r = await run(process.execPath, [cliPath, ...args], { env: { OCITOOL_STORE: store }, timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.equal(errorLines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('/dev/shm is an ordinary place for outputs (a tmpfs), unlike the rest of /dev', async () => {
  const shm = await mkdtemp('/dev/shm/ocitool-test-');
  try {
    const out = path.join(shm, 'x.tar');
    const r = await ocitool(['save', 'big:1', '-o', out], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await stat(out)).size > 0);
  } finally {
    await rm(shm, { recursive: true, force: true });
  }
});

test('save | head -c 100 exits non-zero with one line; images | head still exits 0', async () => {
  const child = spawnCli(['save', 'big:1'], store);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  child.stdout!.destroy(); // the reader goes away after its first bytes, as `head -c 100` does
  const code = await exitOf(child);
  assert.equal(code, 1, child.stderrText());
  assert.equal(errorLines(child.stderrText()).length, 1, child.stderrText());
  assert.match(child.stderrText(), /stdout: cannot write: the reader closed the pipe before the output was complete \(EPIPE\)/);
  const images = spawnCli(['images'], store);
  images.stdout!.destroy();
  assert.equal(await exitOf(images), 0, images.stderrText());
});

test('save -o writes through a scratch name beside the output and removes those of dead runs, not of live ones', async () => {
  const outDir = path.join(dir, 'out-scratch');
  await mkdir(outDir);
  const dead = path.join(outDir, `.x.tar.ocitool-tmp-${await deadPid()}-0123456789ab`);
  const live = path.join(outDir, `.x.tar.ocitool-tmp-${process.pid}-0123456789ab`);
  const other = path.join(outDir, `.y.tar.ocitool-tmp-${await deadPid()}-0123456789ab`);
  for (const f of [dead, live, other]) await writeFile(f, 'left over');
  const r = await ocitool(['save', 'big:1', '-o', path.join(outDir, 'x.tar')], { store });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await readdir(outDir)).sort(), [path.basename(live), path.basename(other), 'x.tar'].sort());
  await mustRun('tar', ['-tf', path.join(outDir, 'x.tar')]);
});

test('a killed convert leaves its scratch beside the output under the recognisable name; the next convert removes it', async () => {
  const fixture = path.join(dir, 'saved-for-kill.tar');
  assert.equal((await ocitool(['save', 'big:1', '-o', fixture], { store })).code, 0);
  const outDir = path.join(dir, 'out-kill');
  await mkdir(outDir);
  const out = path.join(outDir, 'oci.tar');
  // stdin is spooled into the scratch folder; feed half and kill.
  const child = spawnCli(['convert', '-', '-o', out], store);
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(fixture);
  child.stdin!.write(bytes.subarray(0, bytes.length >> 1));
  const scratchFile = async () => {
    for (const name of await readdir(outDir)) {
      if (!name.startsWith('.oci.tar.ocitool-tmp-')) continue;
      for (const sub of await readdir(path.join(outDir, name)).catch(() => [] as string[])) {
        const spool = path.join(outDir, name, sub, 'archive.tar');
        if ((await stat(spool).catch(() => undefined))?.size) return true;
      }
    }
    return false;
  };
  await until(scratchFile, 'the spool file beside the output');
  child.kill('SIGKILL');
  await exitOf(child);
  assert.equal((await readdir(outDir)).filter((n) => n.startsWith(`.oci.tar.ocitool-tmp-${child.pid}-`)).length, 1, 'the killed run left its scratch folder, named for it');
  const r = await ocitool(['convert', fixture, '-o', out], { store });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await readdir(outDir), ['oci.tar']);
});

test('a failed convert removes its own scratch and writes no output', async () => {
  const outDir = path.join(dir, 'out-fail');
  await mkdir(outDir);
  const bad = path.join(dir, 'not-an-archive.tar.gz');
  const { gzipSync } = await import('node:zlib');
  await writeFile(bad, gzipSync(Buffer.alloc(4096, 1)));
  for (const out of [path.join(outDir, 'oci.tar'), path.join(outDir, 'folder')]) {
    const r = await ocitool(['convert', bad, '-o', out], { store });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(errorLines(r.stderr).length, 1, r.stderr);
  }
  assert.deepEqual(await readdir(outDir), []);
});

test('a layout folder writer removes the temp files killed writers left in it (blobs, index.json), not a live one\'s', async () => {
  const fixture = path.join(dir, 'saved-for-folder.tar');
  assert.equal((await ocitool(['save', 'big:1', '-o', fixture], { store })).code, 0);
  const folder = path.join(dir, 'layout-leftovers');
  await mkdir(path.join(folder, 'blobs', 'sha256'), { recursive: true });
  const pid = await deadPid();
  const deadBlob = path.join(folder, 'blobs', 'sha256', `.${'a'.repeat(64)}.ocitool-tmp-${pid}-0123456789ab`);
  const deadIndex = path.join(folder, `.index.json.ocitool-tmp-${pid}-0123456789ab`);
  const liveBlob = path.join(folder, 'blobs', 'sha256', `.${'b'.repeat(64)}.ocitool-tmp-${process.pid}-0123456789ab`);
  for (const f of [deadBlob, deadIndex, liveBlob]) await writeFile(f, 'partial');
  const r = await ocitool(['convert', fixture, '-o', folder], { store });
  assert.equal(r.code, 0, r.stderr);
  const left = [...(await readdir(folder)), ...(await readdir(path.join(folder, 'blobs', 'sha256')))].filter((n) => n.includes('.ocitool-tmp-'));
  assert.deepEqual(left, [path.basename(liveBlob)]);
  await mustRun('skopeo', ['inspect', '--raw', `oci:${folder}:1`]);
});

test('import-oci into a store on a full disk (1 MiB tmpfs): one line naming the layer and ENOSPC, exit 1, the store as it was', async () => {
  const layout = path.join(dir, 'for-full-store.tar');
  assert.equal((await ocitool(['save', 'big:1', '-o', layout], { store })).code, 0);
  const full = path.join(dir, 'full-store');
  const cleanup = await mountTmpfs(full, '1m');
  try {
    const small = path.join(full, 'store');
    assert.equal((await ocitool(['gc'], { store: small })).code, 0); // an empty store, made by gc
    const before = await listTree(small);
    // The file objects are staged by the store's file-object thread: its write failure must come back as one line.
    const r = await ocitool(['import-oci', layout, '--tag', 'big:2'], { store: small });
    assertOneLine(r, /layer sha256:[0-9a-f]{64}: \S+\/staging\/\S+: cannot write file objects: no space left on the device \(ENOSPC\)$/);
    assert.deepEqual(await listTree(small), before, 'nothing of the failed import is left');
  } finally {
    await cleanup();
  }
});

async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) out.push(path.relative(root, path.join(entry.parentPath ?? entry.path, entry.name)));
  return out.sort();
}
