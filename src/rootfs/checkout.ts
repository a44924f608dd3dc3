/**
 * `checkout`: an image from the store as a root filesystem in a folder. The tree is written into
 * a `.DIR.partial-<pid>-<nonce>` sibling and renamed onto DIR at the end (rename replaces an empty
 * folder), so an interrupted checkout never leaves a half-written DIR; a later checkout removes
 * partial siblings whose process is gone. Format of the rules: docs/checkout.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { OcitoolError, withLaterFailure } from '../errors.js';
import type { Platform } from '../oci/platform.js';
import type { Store } from '../store/store.js';
import { isEnoent } from '../util/fs.js';
import { readImageTree } from './from-store.js';
import { writeTree, type CheckoutMode, type WriteTreeSummary } from './write-tree.js';

export interface CheckoutOptions {
  platform?: Platform;
  mode?: CheckoutMode;
  onNote?(text: string): void;
}

export interface CheckoutResult extends WriteTreeSummary {
  name: string;
  manifest: string;
  dir: string;
}

/** The name every partial folder of `dir` starts with; PID-NONCE follows. */
function partialPrefix(dir: string): string {
  return `.${path.basename(dir)}.partial-`;
}

/** The partial folder beside `dir` that this process writes and renames onto `dir`. */
function partialDirFor(dir: string): string {
  return path.join(path.dirname(dir), `${partialPrefix(dir)}${process.pid}-${randomBytes(4).toString('hex')}`);
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Removes `.NAME.partial-PID-*` siblings left by checkouts whose process is gone. */
async function removeStalePartials(dir: string): Promise<void> {
  const parent = path.dirname(dir);
  const prefix = partialPrefix(dir);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch (err) {
    if (isEnoent(err)) return;
    throw err;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && processGone(pid)) await rm(path.join(parent, n), { recursive: true, force: true });
  }
}

/** DIR must be absent or an empty folder. */
async function checkTarget(dir: string): Promise<void> {
  try {
    const names = await readdir(dir);
    if (names.length > 0) throw new OcitoolError('USAGE', `${dir} is not empty; checkout writes only into an empty or new folder`);
  } catch (err) {
    if (isEnoent(err)) return;
    if (err instanceof OcitoolError) throw err;
    throw new OcitoolError('IO', `${dir}: ${(err as Error).message}`, { cause: err });
  }
}

export async function checkout(store: Store, image: string, dir: string, options: CheckoutOptions = {}): Promise<CheckoutResult> {
  dir = path.resolve(dir);
  await checkTarget(dir);
  await removeStalePartials(dir);
  // The shared lock keeps gc from removing objects while they are read.
  const lock = await store.lockShared();
  try {
    const { name, manifest, tree } = await readImageTree(store, image, options.platform);
    const partial = partialDirFor(dir);
    try {
      await mkdir(path.dirname(dir), { recursive: true });
      await mkdir(partial, { mode: 0o700 });
      const summary = await writeTree(tree, partial, { mode: options.mode ?? 'auto', objectPath: (id) => store.paths.object(id as never), ...(options.onNote ? { onNote: options.onNote } : {}) });
      // rename(2) replaces an empty folder atomically: DIR is either untouched or complete.
      await rename(partial, dir);
      return { ...summary, name, manifest: manifest.descriptor.digest, dir };
    } catch (err) {
      try {
        await rm(partial, { recursive: true, force: true });
      } catch (later) {
        throw withLaterFailure(err, later, `removing the partial folder ${partial}`);
      }
      throw err;
    }
  } finally {
    await lock.release();
  }
}
