/** Shared benchmark helpers: timing a process with its peak memory, ratios, generated content. */
import { execFileSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { mustRun, run } from '../test/helpers/index.js';

export const TMPFS = '/dev/shm';

export interface Timed {
  seconds: number;
  maxRssMiB: number;
}

/** Runs a command under /usr/bin/time (wall seconds, peak RSS); `shell` runs it through bash. */
export async function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  const r = await run('/usr/bin/time', ['-f', 'BENCH %e %M', cmd, ...args], { env });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const m = /BENCH ([\d.]+) (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no timing from /usr/bin/time: ${r.stderr}`);
  return { seconds: Number(m[1]), maxRssMiB: Number(m[2]) / 1024 };
}

/** Best of n runs (least noise on a shared 2-core machine); `prepare` runs untimed before each. */
export async function bestOf(n: number, once: () => Promise<Timed>, prepare?: () => Promise<void>): Promise<Timed> {
  let best: Timed | undefined;
  for (let i = 0; i < n; i++) {
    await prepare?.();
    const t = await once();
    if (!best || t.seconds < best.seconds) best = { seconds: t.seconds, maxRssMiB: Math.max(t.maxRssMiB, best?.maxRssMiB ?? 0) };
  }
  return best!;
}

export function ratio(a: Timed, b: Timed): string {
  return (a.seconds / Math.max(b.seconds, 0.001)).toFixed(2);
}

/**
 * Text-like bytes that compress about as well as a real rootfs (gzip ~3:1): words drawn from a
 * fixed vocabulary by a seeded generator. Files are slices of one corpus at different offsets.
 */
export function textCorpus(size: number, seed = 1): Buffer {
  const words = 'the of and to in is that for it as with was on be by at this are from or an have not which but all were when we there can more if no out so said what up its about into than them only other new some time could these two may first then do any like my now over such our man me even most made after also did many before must through years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ');
  const out = Buffer.allocUnsafe(size);
  let x = seed * 2654435761 >>> 0 || 1;
  let o = 0;
  while (o < size) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const w = words[x % words.length]!;
    o += out.write(x % 11 === 0 ? `${w}\n` : `${w} `, o);
  }
  return out;
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return false;
    throw err;
  });
}

export function haveCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // not installed: the caller installs it or says what is missing
  }
}

/** Installs a Debian package for a bench (as root), unless `cmd` is already there. */
export async function aptInstall(pkg: string, cmd: string): Promise<void> {
  if (haveCommand(cmd)) return;
  if (process.getuid?.() !== 0) throw new Error(`bench: install ${pkg} (apt-get install ${pkg})`);
  await mustRun('bash', ['-c', `export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends ${pkg} >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends ${pkg} >/dev/null; }`]);
}
