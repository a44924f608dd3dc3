// Crash safety: pull, import-oci, load, save and gc are SIGKILLed at many moments of their run.
// After each kill the store must be clean for fsck, or hold only leftovers that gc removes, and
// running the same command again must complete. The moments are fractions of a clean run's
// duration, jittered by a seeded generator; the seed is in each test's name, so a failure can be
// replayed.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { cliPath, ocitool, removeDir, tempDir, type RunResult } from '../helpers/index.js';
import { buildImage, type TestImage } from '../helpers/layouts.js';
import { sampleRootfs } from '../helpers/images.js';
import { startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { mustRun } from '../helpers/index.js';

const SEED = Number(process.env.OCITOOL_CRASH_SEED ?? 20261125);
/** Kill moments per command, as fractions of a clean run (plus jitter). */
const FRACTIONS = [0.05, 0.15, 0.3, 0.45, 0.6];

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Runs the CLI and SIGKILLs it after `ms`; resolves with how it ended. */
function runKilled(args: string[], store: string, ms: number, input?: string): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, '--store', store, ...args], { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'ignore'] });
    if (input && child.stdin) {
      // The archive is streamed from a file; a kill closes the pipe, which is expected.
      child.stdin.on('error', () => {});
      import('node:fs').then(({ createReadStream }) => createReadStream(input).pipe(child.stdin!));
    }
    let killed = false;
    const timer = setTimeout(() => {
      killed = child.kill('SIGKILL');
    }, ms);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code });
    });
  });
}

/** fsck is clean, or clean after gc (leftovers of the killed run). Returns what fsck said. */
async function assertRecoverable(store: string, label: string): Promise<void> {
  const first = await ocitool(['fsck', '--json'], { store });
  if (first.code === 0) return;
  const gc = await ocitool(['gc'], { store });
  assert.equal(gc.code, 0, `${label}: gc after the kill failed: ${gc.stderr}\nfsck said: ${first.stdout}`);
  const second = await ocitool(['fsck'], { store });
  assert.equal(second.code, 0, `${label}: fsck after gc: ${second.stdout}${second.stderr}\nfirst fsck: ${first.stdout}`);
}

async function timed(fn: () => Promise<RunResult>): Promise<number> {
  const start = Date.now();
  const r = await fn();
  assert.equal(r.code, 0, r.stderr);
  return Date.now() - start;
}

let work: string;
let image: TestImage;
let registry: RegistryInstance;
let archive: string;

before(async () => {
  work = await tempDir('ocitool-crash-');
  // Many small files and a few large ones, two layers: the split path and the blob path both run.
  image = await buildImage(work, 'crash', [sampleRootfs(71, 400, 96 * 1024), sampleRootfs(72, 40, 1024 * 1024)]);
  registry = await startRegistry();
  await mustRun('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image.gzip}:${image.tag}`, `docker://${registry.host}/crash:v1`]);
  // An OCI layout tar for load, written by ocitool's own save from a clean store.
  const seedStore = path.join(work, 'seed-store');
  assert.equal((await ocitool(['import-oci', image.gzip, '--tag', 'crash:v1'], { store: seedStore })).code, 0);
  archive = path.join(work, 'crash.tar');
  const saved = await ocitool(['save', '--oci', 'crash:v1', '-o', archive], { store: seedStore });
  assert.equal(saved.code, 0, saved.stderr);
});
after(async () => {
  await registry?.stop();
  await removeDir(work);
});

interface Case {
  name: string;
  /** Prepares the store the command runs on (empty for imports; holding the image for save and gc). */
  prepare(store: string): Promise<void>;
  args(store: string, round: number): string[];
  input?: string;
}

const cases: Case[] = [
  { name: 'pull', prepare: async () => {}, args: () => ['pull', '--plain-http', `${registry.host}/crash:v1`] },
  { name: 'import-oci', prepare: async () => {}, args: () => ['import-oci', image.gzip, '--tag', 'crash:v1'] },
  { name: 'load', prepare: async () => {}, args: () => ['load', '-i', archive] },
  {
    name: 'save',
    prepare: async (store) => assert.equal((await ocitool(['import-oci', image.gzip, '--tag', 'crash:v1'], { store })).code, 0),
    args: (store, round) => ['save', '--oci', 'crash:v1', '-o', path.join(path.dirname(store), `saved-${round}.tar`)],
  },
  {
    name: 'gc',
    prepare: async (store) => {
      // Two images, one removed: gc has objects to delete while it is killed.
      assert.equal((await ocitool(['import-oci', image.gzip, '--tag', 'crash:v1'], { store })).code, 0);
      assert.equal((await ocitool(['import-oci', image.zstd, '--tag', 'other:v1'], { store })).code, 0);
      assert.equal((await ocitool(['rm', 'other:v1'], { store })).code, 0);
    },
    args: () => ['gc'],
  },
];

describe(`SIGKILL at random moments (seed ${SEED})`, () => {
  for (const c of cases) {
    test(`${c.name} killed at ${FRACTIONS.length} moments: fsck clean (after gc at most), a rerun completes`, async () => {
      const random = prng(SEED + c.name.length * 7919);
      const base = path.join(work, `clean-${c.name}`);
      await c.prepare(base);
      const clean = await timed(() => ocitool(c.args(base, 0), { store: base }));
      let kills = 0;
      for (let i = 0; i < FRACTIONS.length; i++) {
        const dir = path.join(work, `${c.name}-${i}`);
        const store = path.join(dir, 'store');
        await c.prepare(store);
        const ms = Math.max(1, Math.round(clean * (FRACTIONS[i]! + (random() - 0.5) * 0.1)));
        const label = `${c.name} killed after ${ms} ms of ${clean}`;
        const ended = await runKilled(c.args(store, i), store, ms, c.input);
        if (ended.killed) kills++;
        await assertRecoverable(store, label);
        const rerun = await ocitool(c.args(store, i), { store });
        assert.equal(rerun.code, 0, `${label}: rerun failed: ${rerun.stderr}`);
        const fsck = await ocitool(['fsck'], { store });
        assert.equal(fsck.code, 0, `${label}: fsck after the rerun: ${fsck.stdout}${fsck.stderr}`);
        if (c.name !== 'gc') {
          const images = await ocitool(['images', '--json'], { store });
          assert.match(images.stdout, /crash/, `${label}: the image is in the store after the rerun`);
        }
        // A save leaves no temp file beside its output once a rerun has completed.
        if (c.name === 'save') {
          const left = await readdir(dir);
          assert.deepEqual(left.filter((n) => /tmp/.test(n)), [], `${label}: temp files left: ${left.join(', ')}`);
        }
        await removeDir(dir);
      }
      assert.ok(kills >= Math.ceil(FRACTIONS.length / 2), `${c.name}: only ${kills} of ${FRACTIONS.length} runs were killed mid-way (the run is too fast to test)`);
    });
  }
});
