/**
 * Push benchmark (issue 10): a generated image of about 256 MiB compressed (4 layers of
 * incompressible data) pushed by ocitool (from the store, and `copy oci:DIR docker://REF`) and by
 * `skopeo copy oci:DIR docker://REF` in the same run, each run to a fresh registry: skopeo's
 * blob-info cache remembers where it pushed blobs and mounts them from there, which a fresh
 * registry rules out, so every blob is uploaded by both. Then a registry-to-registry copy of a
 * two-platform index (2 × 64 MiB) to a fresh registry, against `skopeo copy --all`. Best of 3 each. Work on tmpfs.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { bestOf, ratio, timed, TMPFS } from './lib.js';
import { cliPath, mustRun, removeDir } from '../test/helpers/index.js';
import { startRegistry } from '../test/helpers/registry.js';
import { pushLarge } from '../test/registry/fixtures.js';

const IMAGE_MIB = 256;

/**
 * Two large images of different content pushed to one repository, and an OCI index naming them
 * as amd64 and arm64 put by hand (skopeo cannot assemble one): `host/big:v1`.
 */
async function pushLargeIndex(host: string): Promise<string> {
  const entries = [];
  for (const [tag, layers, platform] of [['amd64', 2, { os: 'linux', architecture: 'amd64' }], ['arm64', 3, { os: 'linux', architecture: 'arm64', variant: 'v8' }]] as const) {
    await pushLarge(`${host}/big:${tag}`, 64, layers);
    const raw = Buffer.from(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/big:${tag}`]));
    entries.push({ mediaType: JSON.parse(raw.toString()).mediaType, digest: `sha256:${createHash('sha256').update(raw).digest('hex')}`, size: raw.length, platform });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }));
  const put = await fetch(`http://${host}/v2/big/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
  if (put.status !== 201) throw new Error(`putting the bench index: HTTP ${put.status} ${await put.text()}`);
  return `${host}/big:v1`;
}

export async function runPushBench(): Promise<void> {
  process.env.TMPDIR = TMPFS;
  const work = path.join(TMPFS, `ocitool-bench-push-${process.pid}`);
  await removeDir(work);
  await mkdir(work, { recursive: true });
  const registry = await startRegistry();
  let target: Awaited<ReturnType<typeof startRegistry>> | undefined;
  const freshRegistry = async (): Promise<void> => {
    await target?.stop();
    target = await startRegistry();
  };
  try {
    const src = `${registry.host}/bench:v1`;
    await pushLarge(src, IMAGE_MIB);
    const layout = path.join(work, 'layout');
    await mustRun('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${src}`, `oci:${layout}:v1`]);
    const store = path.join(work, 'store');
    await mustRun(process.execPath, [cliPath, '--store', store, 'pull', '--quiet', src]);
    const node = process.execPath;
    const dest = (): string => `${target!.host}/pushed:v1`;
    const push = await bestOf(3, () => timed(node, [cliPath, '--store', store, 'push', '--quiet', src, dest()]), freshRegistry);
    const copy = await bestOf(3, () => timed(node, [cliPath, 'copy', '--quiet', `oci:${layout}:v1`, `docker://${dest()}`]), freshRegistry);
    const skopeo = await bestOf(3, () => timed('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${dest()}`]), freshRegistry);

    const index = await pushLargeIndex(registry.host);
    const indexCopy = await bestOf(3, () => timed(node, [cliPath, 'copy', '--quiet', '--all-platforms', `docker://${index}`, `docker://${dest()}`]), freshRegistry);
    const indexSkopeo = await bestOf(3, () => timed('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${index}`, `docker://${dest()}`]), freshRegistry);

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
    await target?.stop();
    await removeDir(work);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runPushBench();
