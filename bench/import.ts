/**
 * Foundation benchmark (issue 2), all on tmpfs (/dev/shm) so the disk does not decide the numbers:
 * - `ocitool fsverity-digest` against `fsverity digest` on a generated 100 MiB file;
 * - `ocitool import-oci` of a generated ~128 MiB (uncompressed) gzip image, written by skopeo,
 *   against `gzip -dc` of its layers alone, plus peak memory;
 * - peak memory of `import-oci` for a 1 GiB layer.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, writeFile, rm, readFile } from 'node:fs/promises';
import { FsVerityHasher } from '../src/verity/fsverity.js';
import path from 'node:path';
import { cliPath, mustRun, removeDir } from '../test/helpers/index.js';
import { skopeoCopyLayout, writeOciLayout, writeRootfsTar, type FileSpec } from '../test/helpers/images.js';
import { bestOf, ratio, textCorpus, timed, TMPFS } from './lib.js';

const RUNS = 3;

/** A rootfs of about `totalMiB`: many small files and some large ones, text-like content. */
function rootfsFiles(totalMiB: number, seed: number, corpus: Buffer): FileSpec[] {
  const files: FileSpec[] = [];
  let total = 0;
  let i = 0;
  let x = seed;
  while (total < totalMiB * 1024 * 1024) {
    x = (x * 1103515245 + 12345) >>> 0;
    // Log-spread sizes: most files are small, a few are MiBs, like a real /usr.
    const size = Math.min(8 * 1024 * 1024, Math.floor(64 * Math.pow(2, (x % 1600) / 100)));
    const start = x % (corpus.length - size);
    files.push({ name: `usr/lib/pkg${i % 97}/file-${i}`, content: corpus.subarray(start, start + size) });
    total += size;
    i++;
  }
  return files;
}

export async function runImportBench(): Promise<void> {
  const work = path.join(TMPFS, `ocitool-bench-import-${process.pid}`);
  await removeDir(work);
  await mkdir(work, { recursive: true });
  const node = process.execPath;
  try {
    console.log('\n== import-oci and fs-verity (issue 2), on tmpfs /dev/shm ==');
    // fs-verity on 100 MiB.
    const big = path.join(work, 'verity-100MiB');
    await writeFile(big, textCorpus(100 * 1024 * 1024, 7));
    const ours = await bestOf(RUNS, () => timed(node, [cliPath, 'fsverity-digest', big]));
    const theirs = await bestOf(RUNS, () => timed('fsverity', ['digest', big]));
    console.log(`fsverity-digest 100 MiB: ocitool ${ours.seconds.toFixed(2)} s, fsverity ${theirs.seconds.toFixed(2)} s; throughput ratio ${(theirs.seconds / ours.seconds).toFixed(2)} of fsverity's (aim >= 0.8; includes node's start-up)`);
    // The same work in this process, without node's start-up: the hashing the store does on import.
    let inProcess = Infinity;
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      const hasher = new FsVerityHasher();
      const fd = openSync(big, 'r');
      for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hasher.update(buffer.subarray(0, n));
      closeSync(fd);
      hasher.digest();
      inProcess = Math.min(inProcess, (performance.now() - start) / 1000);
    }
    console.log(`fs-verity in process (library, no start-up): ${inProcess.toFixed(3)} s; throughput ratio ${(theirs.seconds / inProcess).toFixed(2)} of fsverity's`);

    // import-oci of a ~128 MiB gzip image written by skopeo.
    const corpus = textCorpus(16 * 1024 * 1024, 3);
    const layers = [];
    for (let l = 0; l < 2; l++) {
      const tarFile = path.join(work, `layer${l}.tar`);
      await writeRootfsTar(tarFile, rootfsFiles(64, 11 + l, corpus));
      layers.push(tarFile);
    }
    await writeOciLayout(path.join(work, 'plain'), layers, 'bench');
    const layout = path.join(work, 'gzip');
    await skopeoCopyLayout(path.join(work, 'plain'), layout, 'bench', 'gzip');
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const blobs = manifest.layers.map((l: { digest: string }) => path.join(layout, 'blobs/sha256', l.digest.slice(7)));
    const store = path.join(work, 'store');
    const gunzip = await bestOf(RUNS, () => timed('bash', ['-c', `gzip -dc ${blobs.join(' ')} > /dev/null`]));
    const imp = await bestOf(RUNS, () => timed(node, [cliPath, '--store', store, 'import-oci', layout, '--tag', 'bench', '-q']), () => rm(store, { recursive: true, force: true }));
    const again = await timed(node, [cliPath, '--store', store, 'import-oci', layout, '--tag', 'bench2', '-q']);
    console.log(`import-oci 128 MiB (2 gzip layers): ocitool ${imp.seconds.toFixed(2)} s, gzip -dc of the layers ${gunzip.seconds.toFixed(2)} s; ratio ${ratio(imp, gunzip)} (aim <= 1.5); peak ${imp.maxRssMiB.toFixed(0)} MiB; again (all present) ${again.seconds.toFixed(2)} s`);

    // Peak memory with one 1 GiB layer (gzip -1 to keep set-up short).
    await rm(path.join(work, 'plain'), { recursive: true, force: true });
    await rm(layout, { recursive: true, force: true });
    await rm(store, { recursive: true, force: true });
    const gigTar = path.join(work, 'gig.tar');
    await writeRootfsTar(gigTar, rootfsFiles(1024, 5, corpus));
    const gigLayout = path.join(work, 'gig');
    await writeGzipLayout(gigLayout, gigTar);
    await rm(gigTar);
    const gig = await timed(node, [cliPath, '--store', store, 'import-oci', gigLayout, '--tag', 'gig', '-q']);
    console.log(`import-oci of a 1 GiB layer: ${gig.seconds.toFixed(1)} s, peak ${gig.maxRssMiB.toFixed(0)} MiB (aim < 150 MiB)`);
  } finally {
    await removeDir(work);
  }
}

/** A one-layer gzip layout (gzip -1) around an existing tar, without reading it into memory. */
async function writeGzipLayout(dir: string, tarFile: string): Promise<void> {
  await mkdir(path.join(dir, 'blobs/sha256'), { recursive: true });
  const gz = path.join(dir, 'layer.gz');
  await mustRun('bash', ['-c', `gzip -1 -c ${tarFile} > ${gz}`]);
  const sha = async (f: string) => (await mustRun('sha256sum', [f])).split(' ')[0]!;
  const diffId = `sha256:${await sha(tarFile)}`;
  const layerHex = await sha(gz);
  await mustRun('mv', [gz, path.join(dir, 'blobs/sha256', layerHex)]);
  const layerSize = Number((await mustRun('stat', ['-c', '%s', path.join(dir, 'blobs/sha256', layerHex)])).trim());
  const put = async (data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(path.join(dir, 'blobs/sha256', hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const config = await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } })));
  const manifest = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerHex}`, size: layerSize }] })));
  await writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }] }));
}
