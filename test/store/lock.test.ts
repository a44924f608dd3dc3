// The store lock (flock(2) through util-linux flock): exclusion checked directly under contention
// and crashes, bounded waits that name the holder, and owner files that decide nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock, readOwners } from '../../src/store/lock.js';
import { OcitoolError } from '../../src/errors.js';
import { ocitool, removeDir, tempDir } from '../helpers/index.js';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lock-worker.js');
let dir: string;

before(async () => {
  dir = await tempDir();
});
after(() => removeDir(dir));

function runWorker(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** A process that holds the lock until killed; resolves once it holds it. */
function holder(lockDir: string, mode: 'shared' | 'exclusive'): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, 'hold', lockDir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('held')) resolve(child);
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`holder exited ${code}: ${stderr}`)));
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('close');
    child.on('close', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Replays the enter/leave log: no exclusive holder overlaps any other holder. */
function checkLog(text: string): { acquisitions: number; exclusive: number; crashes: number } {
  const holding = new Map<string, string>();
  let acquisitions = 0;
  let exclusive = 0;
  let crashes = 0;
  for (const [n, line] of text.trim().split('\n').entries()) {
    const [pid, event, mode] = line.split(' ');
    if (event === 'enter') {
      acquisitions++;
      if (mode === 'exclusive') {
        exclusive++;
        assert.equal(holding.size, 0, `line ${n + 1}: ${pid} entered exclusive while ${[...holding].join(', ')} held the lock`);
      } else {
        const x = [...holding].find(([, m]) => m === 'exclusive');
        assert.equal(x, undefined, `line ${n + 1}: ${pid} entered shared while ${x?.[0]} held it exclusive`);
      }
      assert.ok(!holding.has(pid!), `line ${n + 1}: ${pid} entered twice`);
      holding.set(pid!, mode!);
    } else {
      if (event === 'crash') crashes++;
      assert.equal(holding.get(pid!), mode, `line ${n + 1}: ${pid} left a lock it did not hold`);
      holding.delete(pid!);
    }
  }
  assert.equal(holding.size, 0, 'every holder left');
  return { acquisitions, exclusive, crashes };
}

test('six processes, mixed shared and exclusive, two of them killed while holding: no exclusive holder ever overlaps another', async () => {
  const lockDir = path.join(dir, 'stress', 'locks');
  const log = path.join(dir, 'stress.log');
  await writeFile(log, '');
  const perWorker = 300;
  const runs = await Promise.all(
    Array.from({ length: 6 }, (_, i) => runWorker(['stress', lockDir, log, String(perWorker), String(1000 + i), ...(i < 2 ? [String(20 + i * 17)] : [])])),
  );
  for (const [i, r] of runs.entries()) {
    if (i < 2) assert.equal(r.signal, 'SIGKILL', `worker ${i} was to die holding the lock: ${r.stderr}`);
    else assert.equal(r.code, 0, `worker ${i}: ${r.stderr}`);
  }
  const { acquisitions, exclusive, crashes } = checkLog(await readFile(log, 'utf8'));
  assert.equal(crashes, 2);
  assert.equal(acquisitions, 4 * perWorker + 21 + 38);
  assert.ok(exclusive > 50, `enough exclusive acquisitions to mean something: ${exclusive}`);
  // The killed holders' locks went with them: the lock is free at once.
  const lock = await acquireLock(lockDir, 'exclusive', { waitSeconds: 0 });
  await lock.release();
  // Their owner files are named nowhere: a waiter's message skips them (and removes them).
  assert.deepEqual(await readOwners(lockDir), []);
});

test('a holder killed with SIGKILL releases the lock; a bounded wait before that ends with LOCKED naming the holder', async () => {
  const lockDir = path.join(dir, 'bounded', 'locks');
  const child = await holder(lockDir, 'exclusive');
  try {
    const told: string[] = [];
    const err = await acquireLock(lockDir, 'shared', { waitSeconds: 0.5, onWait: (m) => told.push(m) }).then(
      () => assert.fail('took a lock another process holds exclusive'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OcitoolError);
    assert.equal(err.code, 'LOCKED');
    assert.match(err.message, new RegExp(`locked by process ${child.pid} \\(lock-worker hold, exclusive, since [^)]+\\); gave up after 0.5 s`));
    assert.equal(err.message.split('\n').length, 1);
    assert.equal(told.length, 1);
    assert.match(told[0]!, new RegExp(`locked by process ${child.pid} .*waiting up to 0.5 s`));
    const none = await acquireLock(lockDir, 'exclusive', { waitSeconds: 0 }).then(() => 'taken', (e: OcitoolError) => e.code);
    assert.equal(none, 'LOCKED', 'waitSeconds 0 does not wait');
  } finally {
    await kill(child);
  }
  const lock = await acquireLock(lockDir, 'exclusive', { waitSeconds: 0 });
  await lock.release();
});

test('shared holders share; an exclusive request waits for every one of them and names them', async () => {
  const lockDir = path.join(dir, 'shared', 'locks');
  const a = await holder(lockDir, 'shared');
  const b = await holder(lockDir, 'shared');
  try {
    const mine = await acquireLock(lockDir, 'shared', { waitSeconds: 0 });
    await mine.release();
    const err = (await acquireLock(lockDir, 'exclusive', { waitSeconds: 0.3 }).catch((e: unknown) => e)) as OcitoolError;
    assert.equal(err.code, 'LOCKED');
    assert.match(err.message, new RegExp(`process ${a.pid} `));
    assert.match(err.message, new RegExp(`process ${b.pid} `));
  } finally {
    await kill(a);
    await kill(b);
  }
});

test('stale owner files and old lock files decide nothing: a dead pid, a reused pid and a pre-flock exclusive file', async () => {
  const lockDir = path.join(dir, 'stale', 'locks');
  await mkdir(lockDir, { recursive: true });
  const host = os.hostname();
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  // A pid that is alive now (our own parent) but was recorded with another start time: pid reuse.
  const reused = { pid: process.ppid, mode: 'exclusive', command: 'ocitool gc', host, bootId, startTicks: '1', since: '2020-01-01T00:00:00.000Z' };
  const dead = { ...reused, pid: 2 ** 22 + 1, startTicks: '5' };
  await writeFile(path.join(lockDir, 'owner-reused'), JSON.stringify(reused));
  await writeFile(path.join(lockDir, 'owner-dead'), JSON.stringify(dead));
  await writeFile(path.join(lockDir, 'exclusive'), String(process.ppid)); // the lock file of ocitool before flock
  const lock = await acquireLock(lockDir, 'exclusive', { waitSeconds: 0 });
  await lock.release();
  assert.deepEqual(await readOwners(lockDir), []);
  const left = (await readdir(lockDir)).sort();
  assert.deepEqual(left.filter((n) => n.startsWith('owner-')), [], 'stale owner files removed by the reader');
});

test('ocitool --wait bounds the wait of a command: LOCKED on one line naming the holder, and a waiting message', async () => {
  const store = path.join(dir, 'cli-store');
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
  const child = await holder(path.join(store, 'locks'), 'exclusive');
  try {
    const r = await ocitool(['--wait', '0.5', 'fsck'], { store });
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, new RegExp(`^ocitool: store .* is locked by process ${child.pid} .*waiting up to 0.5 s`));
    assert.match(lines[1]!, new RegExp(`^ocitool: store .* is locked by process ${child.pid} \\(lock-worker hold, exclusive, since .*\\); gave up after 0.5 s`));
    const bad = await ocitool(['--wait', 'soon', 'fsck'], { store });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--wait "soon": expected a number of seconds/);
  } finally {
    await kill(child);
  }
  assert.equal((await ocitool(['--wait', '0', 'fsck'], { store })).code, 0, 'free once the holder died');
});
