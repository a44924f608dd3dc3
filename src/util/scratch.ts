/**
 * Scratch files and folders beside an output (a `save -o` or `convert -o` file, a layout folder):
 * `.<output name>.ocitool-tmp-<pid>-<random>` in the output's folder. Beside the output, so the
 * finished file is renamed into place (never copied) and a user who looks for leftovers finds
 * them where they asked for output; named after the output and the pid, so the next run of a
 * command writing the same output removes those whose process is gone (a killed run cannot clean
 * up after itself), and never those of a run still going.
 */
import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { isEnoent } from './fs.js';

const MARK = '.ocitool-tmp-';

/** A fresh scratch path beside `output` for this process. */
export function scratchPath(output: string, suffix = ''): string {
  const abs = path.resolve(output);
  return path.join(path.dirname(abs), `.${path.basename(abs)}${MARK}${process.pid}-${randomBytes(6).toString('hex')}${suffix}`);
}

/** True when a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The pid in a scratch name made by `scratchPath` for `base` (any base when undefined), or undefined for any other name. */
function ownerPid(name: string, base: string | undefined): number | undefined {
  const at = base === undefined ? name.lastIndexOf(MARK) : name.startsWith(`.${base}${MARK}`) ? base.length + 1 : -1;
  if (!name.startsWith('.') || at <= 0) return undefined;
  const m = /^([0-9]+)-[0-9a-f]{12}(?:\.[a-z]+)?$/.exec(name.slice(at + MARK.length));
  return m ? Number(m[1]) : undefined;
}

/**
 * Removes the scratch files and folders left beside `output` by runs whose process is gone.
 * Returns what was removed. A folder that does not exist has nothing to remove.
 */
export async function removeStaleScratch(output: string): Promise<string[]> {
  const abs = path.resolve(output);
  return removeStale(path.dirname(abs), path.basename(abs));
}

/** Removes every scratch file in `dir` (made by `scratchPath` for any name there) whose process is gone. */
export async function removeStaleScratchIn(dir: string): Promise<string[]> {
  return removeStale(dir, undefined);
}

async function removeStale(inDir: string, base: string | undefined): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(inDir);
  } catch (err) {
    if (isEnoent(err)) return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = ownerPid(name, base);
    if (pid === undefined || processAlive(pid)) continue;
    await rm(path.join(inDir, name), { recursive: true, force: true });
    removed.push(path.join(inDir, name));
  }
  return removed;
}
