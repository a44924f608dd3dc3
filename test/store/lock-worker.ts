/**
 * A lock holder run as its own process by test/store/lock.test.ts.
 *   stress DIR LOG N SEED [CRASH_AT]: N acquisitions, a third exclusive, each recording
 *     "pid enter|leave mode" in LOG (O_APPEND); at acquisition CRASH_AT it records "crash" and
 *     SIGKILLs itself while holding the lock.
 *   hold DIR MODE: takes the lock, prints "held", and holds it until killed.
 */
import { appendFileSync } from 'node:fs';
import { acquireLock, type LockMode } from '../../src/store/lock.js';

const [cmd, dir, ...rest] = process.argv.slice(2);

function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const busy = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (cmd === 'stress') {
  const [log, n, seed, crashAt] = rest;
  const next = random(Number(seed));
  for (let i = 0; i < Number(n); i++) {
    const mode: LockMode = next() < 1 / 3 ? 'exclusive' : 'shared';
    const lock = await acquireLock(dir!, mode, { waitSeconds: 120, command: 'lock-worker' });
    appendFileSync(log!, `${process.pid} enter ${mode}\n`);
    await busy(Math.floor(next() * 3));
    if (crashAt !== undefined && i === Number(crashAt)) {
      appendFileSync(log!, `${process.pid} crash ${mode}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    appendFileSync(log!, `${process.pid} leave ${mode}\n`);
    await lock.release();
  }
} else if (cmd === 'hold') {
  await acquireLock(dir!, rest[0] as LockMode, { waitSeconds: 0, command: 'lock-worker hold' });
  process.stdout.write('held\n');
  setInterval(() => {}, 1 << 30);
} else {
  throw new Error(`lock-worker: unknown command ${cmd}`);
}
