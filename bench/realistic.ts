/**
 * The realistic benchmark (issue 8): a real Debian bookworm minbase root filesystem (mmdebstrap,
 * ~8,700 files, ~170 MB), made into images with a gzip and with a zstd layer, pushed to a local
 * registry started here, and every ocitool path against its peer in the same run, on tmpfs and on
 * a journaled ext4 loop filesystem (backed by a file on tmpfs: never the root disk, which has no
 * journal and slows with every create/delete cycle). Prints one table: each ratio with its aim,
 * and the peak RSS of every ocitool command; then where the time of `import-oci` goes (CPU profile).
 *
 * The corpus and the images made from it are cached in $OCITOOL_BENCH_CACHE (default
 * ~/.cache/ocitool-bench): the first run builds them (needs root, mmdebstrap and Debian's
 * archive), later runs start at once. BENCH_RUNS sets the runs per measurement (best is kept).
 */
import { copyFile, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliPath, mustRun, removeDir, run } from '../test/helpers/index.js';
import { startRegistry } from '../test/helpers/registry.js';
import { writeOciLayout } from '../test/helpers/images.js';
import { aptInstall, bestOf, exists, haveCommand, timed, TMPFS, type Timed } from './lib.js';
import { summarizeProfile } from './profile.js';

const CACHE = process.env.OCITOOL_BENCH_CACHE ?? path.join(homedir(), '.cache', 'ocitool-bench');
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const EXT4_MIB = 3072;
const node = process.execPath;

interface Row {
  work: string;
  fs: string;
  ours?: Timed;
  peer?: Timed;
  peerName: string;
  /** 'max': ours/peer must be ≤ aim; 'min-throughput': peer/ours must be ≥ aim. */
  aim?: { kind: 'max' | 'min-throughput'; value: number };
  note?: string;
}


/** The minbase rootfs tar, built once with mmdebstrap (Debian's default mirror) and cached. */
async function corpusTar(): Promise<string> {
  const tar = path.join(CACHE, 'debian-bookworm-minbase.tar');
  if (await exists(tar)) return tar;
  await mkdir(CACHE, { recursive: true });
  await aptInstall('mmdebstrap', 'mmdebstrap');
  console.log(`realistic bench: building the corpus with mmdebstrap --variant=minbase bookworm (cached in ${CACHE})`);
  const partial = `${tar}.partial`;
  await mustRun('mmdebstrap', ['--quiet', '--variant=minbase', '--mode=root', 'bookworm', partial]);
  await rename(partial, tar);
  return tar;
}

interface Images {
  gzipLayout: string;
  zstdLayout: string;
  ociArchive: string;
  dockerArchive: string;
  gzipLayer: string;
  zstdLayer: string;
}

async function layerOf(layout: string): Promise<string> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7));
}

/** Layouts (gzip, zstd), an oci-archive and a docker-save archive of the corpus, cached. */
async function images(tar: string): Promise<Images> {
  const dir = path.join(CACHE, 'images-v1');
  const out = {
    gzipLayout: path.join(dir, 'gzip'),
    zstdLayout: path.join(dir, 'zstd'),
    ociArchive: path.join(dir, 'debian-oci.tar'),
    dockerArchive: path.join(dir, 'debian-docker-save.tar'),
  };
  if (!(await exists(path.join(dir, 'complete')))) {
    console.log('realistic bench: making the images (skopeo), once');
    await removeDir(dir);
    await mkdir(dir, { recursive: true });
    const plain = path.join(dir, 'plain');
    await writeOciLayout(plain, [tar], 'latest');
    for (const [kind, layout] of [['gzip', out.gzipLayout], ['zstd', out.zstdLayout]] as const) {
      await mustRun('skopeo', ['copy', '--quiet', '--dest-compress', '--dest-compress-format', kind, `oci:${plain}:latest`, `oci:${layout}:latest`]);
    }
    await mustRun('skopeo', ['copy', '--quiet', `oci:${out.gzipLayout}:latest`, `oci-archive:${out.ociArchive}:latest`]);
    await mustRun('skopeo', ['copy', '--quiet', `oci:${plain}:latest`, `docker-archive:${out.dockerArchive}:debian:bookworm`]);
    await removeDir(plain);
    await mustRun('touch', [path.join(dir, 'complete')]);
  }
  return { ...out, gzipLayer: await layerOf(out.gzipLayout), zstdLayer: await layerOf(out.zstdLayout) };
}

/** A journaled ext4 filesystem on a loop device backed by a file on tmpfs; null with a reason when it cannot be made. */
async function mountExt4(): Promise<{ root: string; unmount: () => Promise<void> } | string> {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a loop filesystem';
  const image = path.join(TMPFS, `ocitool-bench-ext4-${process.pid}.img`);
  const root = path.join(TMPFS, `ocitool-bench-ext4-${process.pid}`);
  const cleanup = async () => {
    await run('umount', [root]);
    await rm(image, { force: true });
    await rm(root, { recursive: true, force: true });
  };
  try {
    await mustRun('truncate', ['-s', `${EXT4_MIB}M`, image]);
    await mustRun('mkfs.ext4', ['-q', '-F', '-O', 'has_journal', image]);
    await mkdir(root, { recursive: true });
    await mustRun('mount', ['-o', 'loop', image, root]);
    return { root, unmount: cleanup };
  } catch (err) {
    await cleanup();
    return `ext4 loop mount failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Runs one measurement; a failure becomes a row saying so, and the other measurements go on. */
async function attempt(rows: Row[], fs: string, work: string, measure: () => Promise<void>): Promise<void> {
  try {
    await measure();
  } catch (err) {
    rows.push({ work, fs, peerName: '-', note: `FAILED: ${(err as Error).message.split('\n').filter(Boolean).slice(0, 2).join(' ').slice(0, 300)}` });
  }
}

const ocitool = (args: string[]) => timed(node, [cliPath, ...args]);

async function fresh(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

/** Every pair on one filesystem. */
async function benchOn(fs: string, root: string, img: Images, host: string): Promise<Row[]> {
  const work = path.join(root, `work-${process.pid}`);
  await fresh(work);
  const rows: Row[] = [];
  try {
    // The compressed inputs live on the filesystem under test, as a user's would.
    const gzLayer = path.join(work, 'layer.tar.gz');
    const zstLayer = path.join(work, 'layer.tar.zst');
    const ociArchive = path.join(work, 'debian-oci.tar');
    const dockerArchive = path.join(work, 'debian-docker-save.tar');
    const bigFile = path.join(work, 'rootfs.tar');
    await copyFile(img.gzipLayer, gzLayer);
    await copyFile(img.zstdLayer, zstLayer);
    await copyFile(img.ociArchive, ociArchive);
    await copyFile(img.dockerArchive, dockerArchive);
    await copyFile(await corpusTar(), bigFile);
    const store = path.join(work, 'store');
    const out = path.join(work, 'out');
    const clean = () => Promise.all([fresh(out), rm(store, { recursive: true, force: true })]).then(() => undefined);

    await attempt(rows, fs, 'pull into the store, gzip layer', async () => {
      const tarGz = await bestOf(RUNS, () => timed('tar', ['-xzf', gzLayer, '-C', out]), clean);
      const pullGz = await bestOf(RUNS, () => ocitool(['--store', store, 'pull', '-q', `${host}/debian:gzip`]), clean);
      rows.push({ work: 'pull into the store, gzip layer', fs, ours: pullGz, peer: tarGz, peerName: 'tar -xzf', aim: { kind: 'max', value: 1.0 } });
      const again = await bestOf(RUNS, () => ocitool(['--store', store, 'pull', '-q', `${host}/debian:gzip`]));
      const skopeoDir = path.join(work, 'skopeo');
      await mustRun('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/debian:gzip`, `oci:${skopeoDir}:latest`]);
      const skopeoAgain = await bestOf(RUNS, () => timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/debian:gzip`, `oci:${skopeoDir}:latest`]));
      rows.push({ work: 'second pull (all present)', fs, ours: again, peer: skopeoAgain, peerName: 'skopeo copy again', note: 'aim: start-up + manifest round trips' });
    });
    await attempt(rows, fs, 'pull into the store, zstd layer', async () => {
      const tarZst = await bestOf(RUNS, () => timed('tar', ['--zstd', '-xf', zstLayer, '-C', out]), clean);
      const pullZst = await bestOf(RUNS, () => ocitool(['--store', store, 'pull', '-q', `${host}/debian:zstd`]), clean);
      rows.push({ work: 'pull into the store, zstd layer', fs, ours: pullZst, peer: tarZst, peerName: 'tar --zstd -xf', aim: { kind: 'max', value: 1.5 } });
    });
    const gunzip = await bestOf(RUNS, () => timed('sh', ['-c', `gzip -dc ${gzLayer} > /dev/null`]));
    await attempt(rows, fs, 'import-oci of the oci-archive', async () => {
      const importOci = await bestOf(RUNS, () => ocitool(['--store', store, 'import-oci', '-q', ociArchive, '--tag', 'debian']), clean);
      rows.push({ work: 'import-oci of the oci-archive', fs, ours: importOci, peer: gunzip, peerName: 'gzip -dc', aim: { kind: 'max', value: 1.3 } });
    });
    await attempt(rows, fs, 'load of the oci-archive', async () => {
      const load = await bestOf(RUNS, () => ocitool(['--store', store, 'load', '-q', '-i', ociArchive, '--name', 'debian']), clean);
      rows.push({ work: 'load of the oci-archive', fs, ours: load, peer: gunzip, peerName: 'gzip -dc', aim: { kind: 'max', value: 1.3 } });
    });

    const layoutOurs = path.join(work, 'layout-ours');
    const layoutSkopeo = path.join(work, 'layout-skopeo');
    await attempt(rows, fs, 'pull --layout', async () => {
      const skopeoPull = await bestOf(RUNS, () => timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/debian:gzip`, `oci:${layoutSkopeo}:latest`]), () => rm(layoutSkopeo, { recursive: true, force: true }));
      const layoutPull = await bestOf(RUNS, () => ocitool(['pull', '-q', '--layout', layoutOurs, `${host}/debian:gzip`]), () => rm(layoutOurs, { recursive: true, force: true }));
      rows.push({ work: 'pull --layout', fs, ours: layoutPull, peer: skopeoPull, peerName: 'skopeo copy docker:// oci:', aim: { kind: 'max', value: 1.0 } });
    });
    await attempt(rows, fs, 'convert docker save → OCI, gzip', async () => {
      const convertSkopeo = await bestOf(RUNS, () => timed('skopeo', ['copy', '--quiet', `docker-archive:${dockerArchive}`, `oci:${layoutSkopeo}:latest`]), () => rm(layoutSkopeo, { recursive: true, force: true }));
      const convert = await bestOf(RUNS, () => ocitool(['convert', '-q', dockerArchive, '-o', layoutOurs]), () => rm(layoutOurs, { recursive: true, force: true }));
      rows.push({ work: 'convert docker save → OCI, gzip', fs, ours: convert, peer: convertSkopeo, peerName: 'skopeo copy docker-archive: oci:', aim: { kind: 'max', value: 1.2 } });
    });
    await attempt(rows, fs, 'fsverity-digest', async () => {
      const verityPeer = await bestOf(RUNS, () => timed('fsverity', ['digest', bigFile]));
      const verity = await bestOf(RUNS, () => ocitool(['fsverity-digest', bigFile]));
      const mb = ((await stat(bigFile)).size / 1e6).toFixed(0);
      rows.push({ work: `fsverity-digest, ${mb} MB (throughput)`, fs, ours: verity, peer: verityPeer, peerName: 'fsverity digest', aim: { kind: 'min-throughput', value: 0.9 } });
      // The digest alone, without node's start-up: what the library does for the store.
      const library = pathToFileURL(path.join(path.dirname(cliPath), '..', 'dist', 'src', 'verity', 'file-digest.js')).href;
      const script = `const { fsverityDigestOfFile } = await import(${JSON.stringify(library)}); const t = performance.now(); await fsverityDigestOfFile(${JSON.stringify(bigFile)}); console.log((performance.now() - t) / 1000);`;
      let best = Infinity;
      for (let i = 0; i < RUNS; i++) best = Math.min(best, Number(await mustRun(node, ['--input-type=module', '-e', script])));
      rows.push({ work: `fsverity digest in process, ${mb} MB (thr.)`, fs, ours: { seconds: best, maxRssMiB: 0 }, peer: verityPeer, peerName: 'fsverity digest', aim: { kind: 'min-throughput', value: 0.9 } });
    });
  } finally {
    await removeDir(work);
  }
  return rows;
}

/** Start-up: hyperfine when installed (mean of many runs), else the best of 15 timed runs. */
async function startup(root: string): Promise<Row[]> {
  const emptyStore = path.join(root, `empty-store-${process.pid}`);
  const commands: Array<[string, string[]]> = [
    ['node -e 0', [node, '-e', '0']],
    ['ocitool --version', [node, cliPath, '--version']],
    ['ocitool images (empty store)', [node, cliPath, '--store', emptyStore, 'images']],
  ];
  const seconds: number[] = [];
  if (haveCommand('hyperfine')) {
    const json = path.join(root, `hyperfine-${process.pid}.json`);
    await mustRun('hyperfine', ['-N', '--warmup', '5', '--runs', '30', '--export-json', json, ...commands.map(([, argv]) => argv.join(' '))]);
    const results = JSON.parse(await readFile(json, 'utf8')).results as Array<{ median: number }>;
    seconds.push(...results.map((r) => r.median));
    await rm(json, { force: true });
  } else {
    for (const [, [cmd, ...args]] of commands) seconds.push((await bestOf(15, () => timed(cmd!, args))).seconds);
  }
  const base: Timed = { seconds: seconds[0]!, maxRssMiB: 0 };
  return commands.slice(1).map(([name], i) => ({ work: `start-up: ${name}`, fs: 'tmpfs', ours: { seconds: seconds[i + 1]!, maxRssMiB: 0 }, peer: base, peerName: 'node -e 0', aim: { kind: 'max' as const, value: 1.5 } }));
}

function formatTable(rows: Row[]): string {
  const header = ['work', 'fs', 'ocitool s', 'peer', 'peer s', 'ratio', 'aim', 'met', 'peak RSS'];
  const lines = rows.map((r) => {
    if (!r.ours || !r.peer) return [r.work, r.fs, '-', r.peerName, '-', '-', '-', r.note?.startsWith('FAILED') ? 'FAILED (below)' : '-', ''];
    const ratio = r.aim?.kind === 'min-throughput' ? r.peer.seconds / r.ours.seconds : r.ours.seconds / Math.max(r.peer.seconds, 0.001);
    const aim = r.aim ? (r.aim.kind === 'max' ? `≤ ${r.aim.value.toFixed(1)}×` : `≥ ${r.aim.value.toFixed(1)}× thr.`) : (r.note ?? '');
    const met = !r.aim ? '' : (r.aim.kind === 'max' ? ratio <= r.aim.value : ratio >= r.aim.value) ? 'yes' : 'NO';
    const rss = r.ours.maxRssMiB > 0 ? `${r.ours.maxRssMiB.toFixed(0)} MiB${r.ours.maxRssMiB > 96 ? ' (> 96)' : ''}` : '';
    return [r.work, r.fs, r.ours.seconds.toFixed(3), r.peerName, r.peer.seconds.toFixed(3), `${ratio.toFixed(2)}×`, aim, met, rss];
  });
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  return all.map((l, n) => {
    const text = l.map((c, i) => c.padEnd(widths[i]!)).join(' │ ').trimEnd();
    return n === 0 ? `${text}\n${widths.map((w) => '─'.repeat(w)).join('─┼─')}` : text;
  }).join('\n');
}

/** import-oci of the gzip oci-archive under --cpu-prof, on tmpfs: where its time goes. */
async function profileImport(img: Images): Promise<string> {
  const dir = path.join(TMPFS, `ocitool-bench-prof-${process.pid}`);
  await fresh(dir);
  try {
    await mustRun(node, ['--cpu-prof', '--cpu-prof-dir', dir, cliPath, '--store', path.join(dir, 'store'), 'import-oci', '-q', img.ociArchive, '--tag', 'debian']);
    // One profile per thread: CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile, thread 0 the main one.
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
    if (files.length === 0) return 'no profile written';
    const parts: string[] = [];
    for (const file of files) {
      const thread = Number(file.split('.').at(-3));
      parts.push(`${thread === 0 ? 'main thread' : `worker thread ${thread} (the file-object thread)`}:`);
      parts.push(summarizeProfile(JSON.parse(await readFile(path.join(dir, file), 'utf8'))));
    }
    return parts.join('\n');
  } finally {
    await removeDir(dir);
  }
}

export async function runRealisticBench(): Promise<void> {
  process.env.TMPDIR = TMPFS; // the registry's storage and skopeo's temporary files: on tmpfs
  const tar = await corpusTar();
  const img = await images(tar);
  const entries = (await mustRun('tar', ['-tf', tar])).split('\n').filter(Boolean).length;
  const registry = await startRegistry();
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    const host = registry.host;
    for (const [tag, layout] of [['gzip', img.gzipLayout], ['zstd', img.zstdLayout]] as const) {
      await mustRun('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${host}/debian:${tag}`]);
    }
    console.log(`\n== realistic bench: Debian bookworm minbase, ${entries} tar entries, ${((await stat(tar)).size / 1e6).toFixed(0)} MB; gzip layer ${((await stat(img.gzipLayer)).size / 1e6).toFixed(0)} MB, zstd layer ${((await stat(img.zstdLayer)).size / 1e6).toFixed(0)} MB; best of ${RUNS} ==`);
    const tmpfsRoot = path.join(TMPFS, `ocitool-bench-real-${process.pid}`);
    await fresh(tmpfsRoot);
    try {
      rows.push(...(await benchOn('tmpfs', tmpfsRoot, img, host)));
      rows.push(...(await startup(tmpfsRoot)));
    } finally {
      await removeDir(tmpfsRoot);
    }
    const ext4 = await mountExt4();
    if (typeof ext4 === 'string') notes.push(`ext4: not run (${ext4})`);
    else {
      try {
        rows.push(...(await benchOn('ext4', ext4.root, img, host)));
      } finally {
        await ext4.unmount();
      }
    }
  } finally {
    await registry.stop();
  }
  console.log(formatTable(rows));
  const peak = Math.max(...rows.map((r) => r.ours?.maxRssMiB ?? 0));
  const measured = rows.filter((r) => r.aim && r.ours && r.peer);
  const missed = measured.filter((r) => {
    const ratio = r.aim!.kind === 'min-throughput' ? r.peer!.seconds / r.ours!.seconds : r.ours!.seconds / r.peer!.seconds;
    return r.aim!.kind === 'max' ? ratio > r.aim!.value : ratio < r.aim!.value;
  });
  console.log(`peak RSS of every benchmarked ocitool command: ${peak.toFixed(0)} MiB (aim ≤ 96 MiB: ${peak <= 96 ? 'met' : 'NOT met'})`);
  console.log(`aims met: ${measured.length - missed.length} of ${measured.length}${missed.length ? `; missed: ${[...new Set(missed.map((r) => `${r.work} (${r.fs})`))].join('; ')}` : ''}`);
  for (const r of rows) if (r.note?.startsWith('FAILED')) console.log(`${r.work} (${r.fs}): ${r.note}`);
  for (const note of notes) console.log(note);
  console.log('\nwhere import-oci spends its time (node --cpu-prof, tmpfs):');
  console.log(await profileImport(img));
}

if (import.meta.url === `file://${process.argv[1]}`) await runRealisticBench();
