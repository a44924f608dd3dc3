// Crash order of outputs (issue 7, defect 5), observed in the system calls the real process makes
// (strace): `save -o` and `convert -o FILE.tar` write a temp file beside the output, fsync it,
// rename it over the output, then fsync the folder; a layout folder's `oci-layout` and
// `index.json` are written the same way (no plain writeFile that a crash can leave empty).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { cliPath, ocitool, removeDir, run, tempDir } from '../helpers/index.js';
import { storeWithImage } from './helpers.js';

let dir: string;
let store: string;

before(async () => {
  dir = await tempDir('ocitool-io-crash-order-');
  store = path.join(dir, 'store');
  await storeWithImage(dir, store, 'img:1', 300_000);
});
after(() => removeDir(dir));

interface Call { name: string; args: string; result: string }

/** Runs the CLI under strace and returns its file system calls in order (all threads). */
async function traced(args: string[]): Promise<Call[]> {
  const log = path.join(dir, `strace-${Date.now()}.log`);
  const r = await run('strace', ['-f', '-qq', '-o', log, '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2,close', process.execPath, cliPath, ...args], { env: { OCITOOL_STORE: store } });
  assert.equal(r.code, 0, r.stderr);
  const calls: Call[] = [];
  for (const line of (await readFile(log, 'utf8')).split('\n')) {
    const m = /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line);
    if (m) calls.push({ name: m[1]!, args: m[2]!, result: m[3]! });
  }
  return calls;
}

/** Asserts temp → fsync(temp) → rename(temp, target) → fsync(folder of target), in that order. */
function assertCrashOrdered(calls: Call[], target: string): void {
  const base = path.basename(target);
  const folder = path.dirname(target);
  const renameAt = calls.findIndex((c) => /^rename/.test(c.name) && c.args.includes(`"${target}"`) && c.result === '0');
  assert.ok(renameAt >= 0, `${target} is renamed into place`);
  const temp = /"([^"]*\.ocitool-tmp-[^"]*)"/.exec(calls[renameAt]!.args)?.[1];
  assert.ok(temp && path.dirname(temp) === folder && path.basename(temp).startsWith(`.${base}.ocitool-tmp-`), `the temp file is beside ${base} under the scratch name: ${calls[renameAt]!.args}`);
  const fdsOf = (file: string, before: number) => calls.slice(0, before).filter((c) => c.name === 'openat' && c.args.includes(`"${file}"`)).map((c) => c.result);
  const tempFds = fdsOf(temp, renameAt);
  const syncedTemp = calls.slice(0, renameAt).some((c, i) => /^f(data)?sync$/.test(c.name) && tempFds.includes(c.args) && i > calls.findIndex((o) => o.name === 'openat' && o.args.includes(`"${temp}"`)));
  assert.ok(syncedTemp, `${temp} is fsynced before the rename`);
  const after = calls.slice(renameAt + 1);
  const folderOpen = after.findIndex((c) => c.name === 'openat' && c.args.includes(`"${folder}"`));
  assert.ok(folderOpen >= 0, `${folder} is opened after the rename`);
  const folderFd = after[folderOpen]!.result;
  assert.ok(after.slice(folderOpen).some((c) => /^f(data)?sync$/.test(c.name) && c.args === folderFd), `${folder} is fsynced after the rename`);
}

test('save -o: temp beside the output, fsync, rename, fsync of the folder', async () => {
  const out = path.join(dir, 'saved.tar');
  assertCrashOrdered(await traced(['save', 'img:1', '-o', out]), out);
});

test('convert -o FILE.tar, and a layout folder\'s oci-layout and index.json, are written crash-ordered', async () => {
  const input = path.join(dir, 'input.tar');
  assert.equal((await ocitool(['save', 'img:1', '-o', input], { store })).code, 0);
  const outTar = path.join(dir, 'converted.tar');
  assertCrashOrdered(await traced(['convert', input, '-o', outTar]), outTar);
  const folder = path.join(dir, 'layout');
  await mkdir(folder);
  const calls = await traced(['convert', input, '-o', folder]);
  assertCrashOrdered(calls, path.join(folder, 'oci-layout'));
  assertCrashOrdered(calls, path.join(folder, 'index.json'));
});
