/**
 * A readers-writer lock between ocitool processes sharing one store. Writers of new content
 * (import, pull, load) hold it shared; `gc` holds it exclusive, so it never deletes an object an
 * import has counted as present but not yet tagged. Node has no flock(2), so the lock is files:
 * locks/exclusive (created with O_EXCL) and one locks/shared.<pid>.<n> per holder. A holder that
 * died is detected by its pid and its file removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const POLL_MS = 50;

export interface Lock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exclusiveHolder(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path.join(dir, 'exclusive'), 'utf8')).trim());
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) return pid;
    // A dead holder's lock: remove it. Racing removers are harmless (force).
    await rm(path.join(dir, 'exclusive'), { force: true });
    return undefined;
  } catch {
    return undefined;
  }
}

export async function acquireShared(dir: string, onWait?: (holder: number) => void): Promise<Lock> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `shared.${process.pid}.${randomBytes(4).toString('hex')}`);
  let told = false;
  for (;;) {
    const holder = await exclusiveHolder(dir);
    if (holder === undefined) {
      await writeFile(file, String(process.pid));
      // Re-check after announcing ourselves: a gc that started in between either sees our file
      // (and waits) or we see its lock here (and step back).
      if ((await exclusiveHolder(dir)) === undefined) return { release: () => rm(file, { force: true }) };
      await rm(file, { force: true });
    } else if (!told) {
      onWait?.(holder);
      told = true;
    }
    await sleep(POLL_MS);
  }
}

export async function acquireExclusive(dir: string, onWait?: (holders: number[]) => void): Promise<Lock> {
  await mkdir(dir, { recursive: true });
  const lockFile = path.join(dir, 'exclusive');
  let told = false;
  for (;;) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await exclusiveHolder(dir);
      if (holder !== undefined && !told) {
        onWait?.([holder]);
        told = true;
      }
      await sleep(POLL_MS);
    }
  }
  told = false;
  for (;;) {
    const holders: number[] = [];
    for (const name of await readdir(dir)) {
      if (!name.startsWith('shared.')) continue;
      const pid = Number(name.split('.')[1]);
      if (alive(pid)) holders.push(pid);
      else await rm(path.join(dir, name), { force: true });
    }
    if (holders.length === 0) return { release: () => rm(lockFile, { force: true }) };
    if (!told) {
      onWait?.(holders);
      told = true;
    }
    await sleep(POLL_MS);
  }
}
