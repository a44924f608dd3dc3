/**
 * Push benchmark (issue 10): a generated image of about 256 MiB compressed (4 layers of
 * incompressible data) pushed by ocitool (from the store, and `copy oci:DIR docker://REF`) and by
 * `skopeo copy oci:DIR docker://REF` in the same run, each to a fresh repository of the local
 * registry (so every blob is uploaded); then a registry-to-registry copy of a two-platform index
 * between two registries, against `skopeo copy --all`. Best of 3 each. Work on tmpfs.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { bestOf, ratio, timed, TMPFS } from './lib.js';
import { cliPath, mustRun, removeDir } from '../test/helpers/index.js';
import { startRegistry } from '../test/helpers/registry.js';
import { pushLarge, pushTwoPlatformIndex } from '../test/registry/fixtures.js';

const IMAGE_MIB = 256;

export async function runPushBench(): Promise<void> {
  process.env.TMPDIR = TMPFS;
  const work = path.join(TMPFS, `ocitool-bench-push-${process.pid}`);
  await removeDir(work);
  await mkdir(work, { recursive: true });
  const registry = await startRegistry();
  const second = await startRegistry();
  try {
    const src = `${registry.host}/bench:v1`;
    await pushLarge(src, IMAGE_MIB);
    const layout = path.join(work, 'layout');
    await mustRun('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${src}`, `oci:${layout}:v1`]);
    const store = path.join(work, 'store');
    await mustRun(process.execPath, [cliPath, '--store', store, 'pull', '--quiet', src]);
    const node = process.execPath;
    let n = 0;
    const fresh = (): string => `${registry.host}/run${n++}:v1`;
    const push = await bestOf(3, () => timed(node, [cliPath, '--store', store, 'push', '--quiet', src, fresh()]));
    const copy = await bestOf(3, () => timed(node, [cliPath, 'copy', '--quiet', `oci:${layout}:v1`, `docker://${fresh()}`]));
    const skopeo = await bestOf(3, () => timed('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${fresh()}`]));

    const index = `${registry.host}/index:v1`;
    await pushTwoPlatformIndex(index, 7);
    const indexCopy = await bestOf(3, () => timed(node, [cliPath, 'copy', '--quiet', '--all-platforms', `docker://${index}`, `docker://${second.host}/o${n++}:v1`]));
    const indexSkopeo = await bestOf(3, () => timed('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${index}`, `docker://${second.host}/s${n++}:v1`]));

    const rows: [string, string, string][] = [
      ['push (store) vs skopeo copy oci: docker://', ratio(push, skopeo), 'aim <= 1.0'],
      ['copy oci: docker:// vs skopeo copy oci: docker://', ratio(copy, skopeo), 'aim <= 1.0'],
      ['copy --all-platforms registry to registry vs skopeo --all', ratio(indexCopy, indexSkopeo), 'aim <= 1.0'],
    ];
    const lines = [
      `push bench: ${IMAGE_MIB} MiB image (4 layers), local registry on 127.0.0.1, work on tmpfs ${TMPFS}; best of 3`,
      `  seconds: push ${push.seconds}, copy oci: ${copy.seconds}, skopeo ${skopeo.seconds}; index copy ${indexCopy.seconds}, skopeo --all ${indexSkopeo.seconds}`,
      ...rows.map(([name, value, aim]) => `  ${name.padEnd(58)} ${value.padStart(6)}  (${aim})`),
      `  peak memory: push ${push.maxRssMiB.toFixed(0)} MiB, copy ${copy.maxRssMiB.toFixed(0)} MiB; skopeo ${skopeo.maxRssMiB.toFixed(0)} MiB`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await registry.stop();
    await second.stop();
    await removeDir(work);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runPushBench();
