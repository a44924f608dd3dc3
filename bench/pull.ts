/**
 * Pull benchmark: a generated image of about 256 MiB compressed (4 layers of incompressible data)
 * in the local registry, pulled by ocitool and by skopeo in the same run. Prints ratios (ocitool
 * time / peer time) and ocitool's peak memory (maxRSS via /usr/bin/time). Work happens on tmpfs
 * (/dev/shm) so disk speed does not decide the numbers.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ratio, timed, type Timed } from './lib.js';
import { cliPath, removeDir, run } from '../test/helpers/index.js';
import { startRegistry } from '../test/helpers/registry.js';
import { pushLarge } from '../test/registry/fixtures.js';

const IMAGE_MIB = 256;
const WORK_ROOT = '/dev/shm';




export async function runPullBench(): Promise<void> {
  process.env.TMPDIR = WORK_ROOT;
  const work = path.join(WORK_ROOT, `ocitool-bench-pull-${process.pid}`);
  await removeDir(work);
  await mkdir(work, { recursive: true });
  const registry = await startRegistry();
  try {
    const ref = `${registry.host}/bench:v1`;
    await pushLarge(ref, IMAGE_MIB);
    const node = process.execPath;
    const skopeoDir = path.join(work, 'skopeo-layout');
    const skopeoFirst = await timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${skopeoDir}:v1`]);
    const skopeoSecond = await timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${skopeoDir}:v1`]);
    const layoutPull = await timed(node, [cliPath, 'pull', '--quiet', '--layout', path.join(work, 'ocitool-layout'), ref]);
    const store = path.join(work, 'store');
    const storePull = await timed(node, [cliPath, '--store', store, 'pull', '--quiet', ref]);
    const storeSecond = await timed(node, [cliPath, '--store', store, 'pull', '--quiet', ref]);

    // gzip -dc of the same compressed layers (read from skopeo's layout; the largest blobs are the layers).
    const blobDir = path.join(skopeoDir, 'blobs', 'sha256');
    const blobs = (await readdir(blobDir)).map((b) => path.join(blobDir, b));
    const { stat } = await import('node:fs/promises');
    const sized = await Promise.all(blobs.map(async (b) => ({ b, size: (await stat(b)).size })));
    const layers = sized.filter((s) => s.size > 1024 * 1024).map((s) => s.b);
    const compressed = sized.filter((s) => s.size > 1024 * 1024).reduce((n, s) => n + s.size, 0);
    const gunzip = await timed('sh', ['-c', `for f in ${layers.join(' ')}; do gzip -dc "$f"; done > /dev/null`]);
    const bundle = path.join(work, 'bundle');
    const umoci = await timed('umoci', ['unpack', '--rootless', '--image', `${skopeoDir}:v1`, bundle]);
    const skopeoUmoci: Timed = { seconds: skopeoFirst.seconds + umoci.seconds, maxRssMiB: Math.max(skopeoFirst.maxRssMiB, umoci.maxRssMiB) };

    const startup = await timed(node, [cliPath, '--help']);
    const rows: [string, string, string][] = [
      ['pull --layout vs skopeo copy docker:// oci:', ratio(layoutPull, skopeoFirst), 'aim <= 1.0'],
      ['pull (store) vs gzip -dc of the layers', ratio(storePull, gunzip), 'aim <= 1.5'],
      ['pull (store) vs skopeo copy + umoci unpack', ratio(storePull, skopeoUmoci), 'aim: far below 1'],
      ['second pull (store) vs skopeo second copy', ratio(storeSecond, skopeoSecond), 'aim <= 1.0'],
    ];
    const lines = [
      `pull bench: ${layers.length} layers, ${(compressed / 1048576).toFixed(1)} MiB compressed, local registry on 127.0.0.1, work on tmpfs ${WORK_ROOT}`,
      `  seconds: skopeo ${skopeoFirst.seconds}, skopeo again ${skopeoSecond.seconds}, pull --layout ${layoutPull.seconds}, pull ${storePull.seconds}, pull again ${storeSecond.seconds}, gzip -dc ${gunzip.seconds}, umoci unpack ${umoci.seconds}`,
      `  (ocitool process start alone: ${startup.seconds} s, included in every ocitool time)`,
      ...rows.map(([name, value, aim]) => `  ${name.padEnd(46)} ${value.padStart(6)}  (${aim})`),
      `  peak memory: pull ${storePull.maxRssMiB.toFixed(0)} MiB, pull --layout ${layoutPull.maxRssMiB.toFixed(0)} MiB (aim < 150 MiB); skopeo ${skopeoFirst.maxRssMiB.toFixed(0)} MiB`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await registry.stop();
    await removeDir(work);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runPullBench();
