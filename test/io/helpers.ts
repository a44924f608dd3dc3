/** Helpers for the I/O tests: a store with one image, spawned CLI processes, tmpfs mounts, dead pids. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { cliPath, mustRun, ocitool, run } from '../helpers/index.js';
import { writeRootfsTar, type FileSpec } from '../helpers/images.js';

/** Imports a one-layer image of `bytes` random bytes as `name` into `store`. */
export async function storeWithImage(dir: string, store: string, name: string, bytes: number, seed = 1): Promise<void> {
  const tarFile = path.join(dir, `rootfs-${seed}.tar`);
  const files: FileSpec[] = [{ name: 'data', size: bytes, seed }];
  await writeRootfsTar(tarFile, files);
  const r = await ocitool(['import-rootfs', tarFile, '--tag', name, '-q'], { store });
  if (r.code !== 0) throw new Error(`import-rootfs failed: ${r.stderr}`);
}

/** Starts the CLI with pipes on every stream. */
export function spawnCli(args: string[], store: string, env: NodeJS.ProcessEnv = {}): ChildProcess & { stderrText: () => string } {
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env, OCITOOL_STORE: store }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  // Tests kill children while input is still queued for them: the EPIPE that follows is the
  // kill's doing, and what the child did is checked through its exit and its files instead.
  child.stdin!.on('error', () => {});
  return Object.assign(child, { stderrText: () => stderr });
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Polls until `check` is true (a bounded wait for an event in another process, not a timing assertion). */
export async function until(check: () => Promise<boolean> | boolean, what: string, limitMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A pid that belonged to a process that has exited (and is not reused right away). */
export async function deadPid(): Promise<number> {
  const child = spawn('true');
  await exitOf(child);
  return child.pid!;
}

/** Mounts a tmpfs of `size` (e.g. "1m") at a new folder `dir`, with extra options; returns an unmount function. */
export async function mountTmpfs(dir: string, size: string, extra: string[] = []): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  await mustRun('mount', ['-t', 'tmpfs', '-o', [`size=${size}`, ...extra].join(','), 'tmpfs', dir]);
  return async () => {
    await run('umount', [dir]);
  };
}

/** Lines of stderr that are ocitool's messages (progress lines excluded). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('ocitool:'));
}

/** A Node stack trace in stderr (what a crash looks like). */
export function hasStackTrace(stderr: string): boolean {
  return /^\s+at .+:\d+:\d+\)?$/m.test(stderr) || /node:internal/.test(stderr);
}
