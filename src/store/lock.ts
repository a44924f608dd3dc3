/**
 * The store lock: a readers-writer lock between processes sharing one store, held with flock(2)
 * on locks/store.lock. Every operation that reads or writes the store's objects holds it shared;
 * `gc` holds it exclusive, so it never deletes an object an import counts as present but has not
 * tagged yet, nor a staging folder whose owner is alive.
 *
 * Node has no flock binding, so util-linux `flock(1)` takes the lock for us: we open the lock file
 * and pass that descriptor as the child's fd 3. flock(2) locks the open file description, which the
 * child shares with us, so once `flock` exits 0 this process holds the lock until it closes its
 * descriptor or dies. The kernel releases it on any exit, crash included: there are no stale locks
 * and no pid checks decide anything. Owner files (locks/owner-*) only say who holds the lock in
 * messages. Protocol: docs/store-format.md, "Locking".
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { close, constants, open, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { OcitoolError } from '../errors.js';
import { isEnoent, isReadOnlyError, listNames } from '../util/fs.js';
import { ioError } from '../util/output.js';

/** How long a command waits for the lock unless `--wait SECONDS` says otherwise. */
export const DEFAULT_LOCK_WAIT_SECONDS = 300;
export const LOCK_FILE = 'store.lock';
const OWNER_PREFIX = 'owner-';

export type LockMode = 'shared' | 'exclusive';

export interface Lock {
  readonly mode: LockMode;
  /** False only for a reader of a read-only store that has no lock file (nothing can change it through us). */
  readonly held: boolean;
  /** The informational owner file, when one could be written. */
  readonly ownerFile?: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Seconds to wait for a conflicting holder; 0 fails at once. Default DEFAULT_LOCK_WAIT_SECONDS. */
  waitSeconds?: number;
  /** Told once, naming the holders, when this process has to wait. */
  onWait?: (message: string) => void;
  /** Recorded in the owner file, e.g. "ocitool gc". */
  command?: string;
  /**
   * 'read': a store that cannot be written and has no lock file is read without the lock.
   * 'write' (default): a store that cannot be written is refused with "store DIR is read-only".
   */
  access?: 'read' | 'write';
}

/** Who holds the lock, as recorded in an owner file. Informational only. */
export interface LockOwner {
  pid: number;
  mode: LockMode;
  command: string;
  host: string;
  bootId: string;
  /** Process start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart. */
  startTicks: string;
  since: string;
  file: string;
}

const openFd = promisify(open);
const closeFd = promisify(close);

export function readOnlyStoreError(storeRoot: string, cause?: unknown): OcitoolError {
  return new OcitoolError('STORE', `store ${storeRoot} is read-only`, { cause });
}

/** Opens (creating when missing) the lock file; undefined when the store cannot be written and has none. */
async function openLockFile(dir: string): Promise<number | undefined> {
  const file = path.join(dir, LOCK_FILE);
  try {
    return await openFd(file, constants.O_RDONLY);
  } catch (err) {
    if (!isEnoent(err)) throw lockError(file, err);
  }
  try {
    await mkdir(dir, { recursive: true });
    return await openFd(file, constants.O_RDONLY | constants.O_CREAT, 0o666);
  } catch (err) {
    if (isReadOnlyError(err)) return undefined;
    throw lockError(file, err);
  }
}

function lockError(file: string, err: unknown): OcitoolError {
  return new OcitoolError('STORE', `store lock ${file}: ${(err as Error).message}`, { cause: err });
}

/** Runs `flock` on our descriptor: true when taken, false when the wait ran out. */
function runFlock(fd: number, file: string, mode: LockMode, waitSeconds: number): Promise<boolean> {
  // Fixed-point: flock reads "1e-7" or "1e+21" as a usage error. About four months at most.
  const seconds = Math.min(waitSeconds, 1e7).toFixed(3);
  const args = [mode === 'shared' ? '-s' : '-x', ...(waitSeconds > 0 ? ['-w', seconds] : ['-n']), '3'];
  return new Promise((resolve, reject) => {
    let stderr = '';
    const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 1000)));
    child.on('error', (err) => reject(new OcitoolError('STORE', `store lock ${file}: cannot run flock (util-linux): ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(true);
      else if (code === 1) resolve(false);
      else reject(new OcitoolError('STORE', `store lock ${file}: flock failed (${signal ?? `exit ${code}`}) ${stderr.trim().split('\n')[0] ?? ''}`.trim()));
    });
  });
}

let selfFacts: { host: string; bootId: string; startTicks: string } | undefined;

/** Boot id and start time of a process: with host and pid they name one process, a reused pid included. */
function processFacts(pid: number): { bootId: string; startTicks: string } | 'gone' | 'unknown' {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isEnoent(err)) return 'gone';
    return 'unknown'; // e.g. /proc mounted with hidepid: we cannot tell, so we keep the name
  }
  // Field 2 (comm) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), startTicks: fields[19] ?? '' };
}

function self(): { host: string; bootId: string; startTicks: string } {
  if (!selfFacts) {
    const facts = processFacts(process.pid);
    selfFacts = { host: os.hostname(), ...(typeof facts === 'object' ? facts : { bootId: '', startTicks: '' }) };
  }
  return selfFacts;
}

/** Whether an owner file describes a process that is gone (only decidable on this host). */
function ownerIsGone(owner: LockOwner): boolean {
  const me = self();
  if (owner.host !== me.host) return false;
  if (owner.bootId !== me.bootId) return true;
  const facts = processFacts(owner.pid);
  if (facts === 'gone') return true;
  if (facts === 'unknown') return false;
  return facts.startTicks !== owner.startTicks;
}

/**
 * The owner files of live holders. Files of processes that are gone are removed on the way; they
 * decide nothing, so a wrong guess only changes a message.
 */
export async function readOwners(dir: string): Promise<LockOwner[]> {
  const owners: LockOwner[] = [];
  for (const name of await listNames(dir)) {
    if (!name.startsWith(OWNER_PREFIX)) continue;
    const file = path.join(dir, name);
    let owner: LockOwner;
    try {
      owner = { ...(JSON.parse(await readFile(file, 'utf8')) as Omit<LockOwner, 'file'>), file };
    } catch (err) {
      // Removed since the listing, or being written by its holder (not yet whole JSON): only a
      // message loses a name. Any other read error is the store's and is reported.
      if (isEnoent(err) || err instanceof SyntaxError) continue;
      throw ioError(file, err, 'cannot read the lock owner file');
    }
    if (typeof owner.pid !== 'number') continue;
    if (ownerIsGone(owner)) {
      // A leftover of a dead process. A read-only store keeps it (it is skipped like this every
      // time); any other failure to remove it is reported.
      await rm(file, { force: true }).catch((err: unknown) => {
        if (!isReadOnlyError(err)) throw ioError(file, err, 'cannot remove the owner file of a dead process');
      });
      continue;
    }
    owners.push(owner);
  }
  return owners;
}

export function describeOwner(owner: LockOwner): string {
  const host = owner.host === os.hostname() ? '' : ` on ${owner.host}`;
  return `process ${owner.pid}${host} (${owner.command}, ${owner.mode}, since ${owner.since})`;
}

async function holdersText(dir: string, mode: LockMode): Promise<string> {
  // A shared request waits only for an exclusive holder; an exclusive one for everybody.
  const owners = (await readOwners(dir)).filter((o) => mode === 'exclusive' || o.mode === 'exclusive');
  return owners.length ? owners.map(describeOwner).join(', ') : 'another process';
}

async function writeOwner(dir: string, mode: LockMode, command: string): Promise<string | undefined> {
  const me = self();
  const file = path.join(dir, `${OWNER_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  const record = { pid: process.pid, mode, command, host: me.host, bootId: me.bootId, startTicks: me.startTicks, since: new Date().toISOString() };
  try {
    await writeFile(file, JSON.stringify(record) + '\n');
    return file;
  } catch (err) {
    // The owner file only names us in other processes' messages; a store we may only read has none.
    if (isReadOnlyError(err)) return undefined;
    throw lockError(file, err);
  }
}

/** Takes the store lock in `dir` (the store's locks/ folder), waiting at most `waitSeconds`. */
export async function acquireLock(dir: string, mode: LockMode, options: LockOptions = {}): Promise<Lock> {
  const storeRoot = path.dirname(dir);
  const file = path.join(dir, LOCK_FILE);
  const waitSeconds = options.waitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS;
  const access = options.access ?? 'write';
  const fd = await openLockFile(dir);
  if (fd === undefined) {
    if (access === 'write' || mode === 'exclusive') throw readOnlyStoreError(storeRoot);
    return { mode, held: false, release: async () => {} };
  }
  try {
    let taken = await runFlock(fd, file, mode, 0);
    if (!taken && waitSeconds > 0) {
      options.onWait?.(`store ${storeRoot} is locked by ${await holdersText(dir, mode)}; waiting up to ${waitSeconds} s (--wait SECONDS)`);
      taken = await runFlock(fd, file, mode, waitSeconds);
    }
    if (!taken) {
      throw new OcitoolError('LOCKED', `store ${storeRoot} is locked by ${await holdersText(dir, mode)}; gave up after ${waitSeconds} s (--wait SECONDS waits longer)`, {
        details: { store: storeRoot, waitSeconds },
      });
    }
    const ownerFile = await writeOwner(dir, mode, options.command ?? defaultCommand());
    let released = false;
    return {
      mode,
      held: true,
      ownerFile,
      release: async () => {
        if (released) return;
        released = true;
        try {
          if (ownerFile) await rm(ownerFile, { force: true });
        } finally {
          // Closing our descriptor is what releases the lock.
          await closeFd(fd);
        }
      },
    };
  } catch (err) {
    await closeFd(fd);
    throw err;
  }
}

function defaultCommand(): string {
  return path.basename(process.argv[1] ?? process.argv0);
}

export function acquireShared(dir: string, options: LockOptions = {}): Promise<Lock> {
  return acquireLock(dir, 'shared', options);
}

export function acquireExclusive(dir: string, options: LockOptions = {}): Promise<Lock> {
  return acquireLock(dir, 'exclusive', options);
}

/**
 * Lock-folder leftovers an exclusive holder may remove: every owner file but its own (nobody
 * else holds the lock) and the lock files of ocitool versions before flock (exclusive, shared.*).
 */
export async function lockLeftovers(dir: string, held: Lock): Promise<string[]> {
  if (held.mode !== 'exclusive' || !held.held) throw new OcitoolError('STORE', 'lock leftovers are only known under the exclusive lock');
  const out: string[] = [];
  for (const name of await listNames(dir)) {
    const file = path.join(dir, name);
    if (file === held.ownerFile || name === LOCK_FILE) continue;
    if (name.startsWith(OWNER_PREFIX) || name === 'exclusive' || name.startsWith('shared.')) out.push(file);
  }
  return out;
}
