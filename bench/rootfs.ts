/**
 * The root filesystem benchmark (issues 11 and 12), on the realistic Debian bookworm minbase image
 * (realistic.ts builds and caches it; run BENCH_ONLY=realistic once first). On tmpfs, on a
 * journaled ext4 loop filesystem and on an xfs loop filesystem with reflink=1 (both backed by a
 * file on tmpfs, never the root disk):
 *
 * - `checkout` against `umoci unpack` (≤ 0.3×) and `tar -xf` of the flattened rootfs (≤ 1.2×);
 * - `checkout --mode hardlink` and `--mode reflink` against `cp -a --reflink=always` of an
 *   unpacked tree (xfs), `cp -al` elsewhere (no aim given: printed for scale);
 * - `composefs` image creation and `mount` time, and the first full read of the mounted tree
 *   against the same read of a checkout (page cache dropped first);
 * - store size with two images sharing their base (minbase, minbase plus a small layer) against
 *   two unpacked trees.
 *
 * The read is `tar -cf - | cat > /dev/null`: GNU tar writing to /dev/null itself skips file
 * contents, which would measure only the metadata. Then a CPU profile of one checkout on tmpfs.
 */
import { cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { cliPath, mustRun, removeDir, run } from '../test/helpers/index.js';
import { writeOciLayout } from '../test/helpers/images.js';
import { aptInstall, bestOf, exists, haveCommand, textCorpus, timed, TMPFS, type Timed } from './lib.js';
import { summarizeProfile } from './profile.js';

const CACHE = process.env.OCITOOL_BENCH_CACHE ?? path.join(homedir(), '.cache', 'ocitool-bench');
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const LOOP_MIB = 3072;
const RSS_AIM_MIB = 96;
const node = process.execPath;
const isRoot = process.getuid?.() === 0;

interface Row {
  work: string;
  fs: string;
  ours?: Timed;
  peer?: Timed;
  peerName: string;
  aim?: number;
  note?: string;
}

interface SizeRow {
  fs: string;
  store: number;
  trees: number;
}


async function fresh(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

const ocitool = (args: string[]) => timed(node, [cliPath, ...args]);

/** A loop filesystem backed by a file on tmpfs; a string says why it could not be made. */
async function mountLoop(kind: 'ext4' | 'xfs'): Promise<{ root: string; unmount: () => Promise<void> } | string> {
  if (!isRoot) return 'not root: cannot mount a loop filesystem';
  const image = path.join(TMPFS, `ocitool-bench-rootfs-${kind}-${process.pid}.img`);
  const root = path.join(TMPFS, `ocitool-bench-rootfs-${kind}-${process.pid}`);
  const cleanup = async () => {
    await run('umount', [root]);
    await rm(image, { force: true });
    await rm(root, { recursive: true, force: true });
  };
  try {
    if (kind === 'xfs') await aptInstall('xfsprogs', 'mkfs.xfs');
    await mustRun('truncate', ['-s', `${LOOP_MIB}M`, image]);
    if (kind === 'ext4') await mustRun('mkfs.ext4', ['-q', '-F', '-O', 'has_journal', image]);
    else await mustRun('mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', image]);
    await mkdir(root, { recursive: true });
    await mustRun('mount', ['-o', 'loop', image, root]);
    return { root, unmount: cleanup };
  } catch (err) {
    await cleanup();
    return `${kind} loop mount failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Runs one measurement; a failure becomes a row saying so, and the others go on. */
async function attempt(rows: Row[], fs: string, work: string, measure: () => Promise<void>): Promise<void> {
  try {
    await measure();
  } catch (err) {
    rows.push({ work, fs, peerName: '-', note: `FAILED: ${(err as Error).message.split('\n').filter(Boolean).slice(0, 2).join(' ').slice(0, 300)}` });
  }
}

/**
 * The second image: minbase plus one small layer (200 text files, a changed /etc/motd), made into
 * a gzip layout by skopeo like the first, so both share the base layer's blob. Cached.
 */
async function extraLayout(corpus: string): Promise<string> {
  const dir = path.join(CACHE, 'rootfs-extra-v1');
  const layout = path.join(dir, 'gzip');
  if (await exists(path.join(dir, 'complete'))) return layout;
  await removeDir(dir);
  const files = path.join(dir, 'files');
  await mkdir(path.join(files, 'usr/share/ocitool-bench-extra'), { recursive: true });
  await mkdir(path.join(files, 'etc'), { recursive: true });
  for (let i = 0; i < 200; i++) await writeFile(path.join(files, 'usr/share/ocitool-bench-extra', `file-${i}.txt`), textCorpus(20_000 + i * 100, i + 1));
  await writeFile(path.join(files, 'etc/motd'), 'minbase plus a small layer\n');
  const extraTar = path.join(dir, 'extra.tar');
  await mustRun('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-cf', extraTar, '-C', files, 'usr', 'etc/motd']);
  const plain = path.join(dir, 'plain');
  await writeOciLayout(plain, [corpus, extraTar], 'latest');
  await mustRun('skopeo', ['copy', '--quiet', '--dest-compress', '--dest-compress-format', 'gzip', `oci:${plain}:latest`, `oci:${layout}:latest`]);
  await removeDir(plain);
  await removeDir(files);
  await writeFile(path.join(dir, 'complete'), '');
  return layout;
}

async function diskUsage(dir: string): Promise<number> {
  return Number((await mustRun('du', ['-s', '-B1', dir])).split('\t')[0]);
}

async function dropCaches(): Promise<void> {
  if (!isRoot) return; // as a user the read is warm; the note under the table says so
  await mustRun('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);
}

const fullRead = (dir: string) => timed('sh', ['-c', `tar -cf - -C '${dir}' . | cat > /dev/null`]);

/** Every measurement on one filesystem. */
async function benchOn(fs: string, root: string, corpus: string, layoutA: string, layoutB: string, reflink: boolean, sizes: SizeRow[]): Promise<Row[]> {
  const work = path.join(root, `rootfs-${process.pid}`);
  await fresh(work);
  const rows: Row[] = [];
  try {
    const store = path.join(work, 'store');
    const layout = path.join(work, 'layout');
    const flat = path.join(work, 'rootfs.tar');
    const out = path.join(work, 'out');
    const tree = path.join(work, 'tree');
    // Inputs on the filesystem under test, as a user's would be.
    await cp(layoutA, layout, { recursive: true });
    await cp(corpus, flat);
    await mustRun(node, [cliPath, '--store', store, 'import-oci', '-q', layout, '--tag', 'debian']);
    await mustRun(node, [cliPath, '--store', store, 'import-oci', '-q', layoutB, '--tag', 'debian-extra']);
    const removeOut = () => rm(out, { recursive: true, force: true });
    let checkoutTime: Timed | undefined;

    await attempt(rows, fs, 'checkout', async () => {
      const umoci = await bestOf(RUNS, () => timed('umoci', ['unpack', '--image', `${layout}:latest`, out]), removeOut);
      const tar = await bestOf(RUNS, () => timed('tar', ['-xf', flat, '-C', out]), () => fresh(out));
      checkoutTime = await bestOf(RUNS, () => ocitool(['--store', store, 'checkout', 'debian', out]), removeOut);
      rows.push({ work: 'checkout', fs, ours: checkoutTime, peer: umoci, peerName: 'umoci unpack', aim: 0.3 });
      rows.push({ work: 'checkout', fs, ours: checkoutTime, peer: tar, peerName: 'tar -xf (flattened)', aim: 1.2 });
    });
    await removeOut();
    await mustRun(node, [cliPath, '--store', store, 'checkout', 'debian', tree]);

    await attempt(rows, fs, 'checkout --mode hardlink', async () => {
      const peerArgs = reflink ? ['-a', '--reflink=always', tree, out] : ['-al', tree, out];
      const peer = await bestOf(RUNS, () => timed('cp', peerArgs), removeOut);
      const peerName = `cp ${peerArgs.slice(0, -2).join(' ')}`;
      const hard = await bestOf(RUNS, () => ocitool(['--store', store, 'checkout', '--mode', 'hardlink', 'debian', out]), removeOut);
      rows.push({ work: 'checkout --mode hardlink', fs, ours: hard, peer, peerName, note: 'no aim given' });
      if (reflink) {
        const clone = await bestOf(RUNS, () => ocitool(['--store', store, 'checkout', '--mode', 'reflink', 'debian', out]), removeOut);
        rows.push({ work: 'checkout --mode reflink', fs, ours: clone, peer, peerName, note: 'no aim given' });
      }
    });
    await removeOut();

    const image = path.join(work, 'debian.cfs');
    await attempt(rows, fs, 'composefs image', async () => {
      const made = await bestOf(RUNS, () => ocitool(['--store', store, 'composefs', 'debian', '-o', image]), () => rm(image, { force: true }));
      rows.push({ work: 'composefs image (-o FILE)', fs, ours: made, ...(checkoutTime ? { peer: checkoutTime } : {}), peerName: 'checkout', note: 'no aim given' });
    });
    const mnt = path.join(work, 'mnt');
    await mkdir(mnt);
    const umount = () => mustRun(node, [cliPath, '--store', store, 'umount', mnt]).then(() => undefined);
    await attempt(rows, fs, 'mount', async () => {
      if (!isRoot) throw new Error('mount needs root');
      const mounted = await bestOf(RUNS, async () => {
        const t = await ocitool(['--store', store, 'mount', 'debian', mnt]);
        await umount();
        return t;
      });
      rows.push({ work: 'mount (composefs)', fs, ours: mounted, ...(checkoutTime ? { peer: checkoutTime } : {}), peerName: 'checkout', note: 'no aim given' });
      // First read: a fresh mount each time, caches dropped, against the same read of a checkout.
      const readMount = await bestOf(RUNS, async () => {
        const t = await fullRead(mnt);
        await umount();
        return t;
      }, async () => {
        await mustRun(node, [cliPath, '--store', store, 'mount', 'debian', mnt]);
        await dropCaches();
      });
      const readTree = await bestOf(RUNS, () => fullRead(tree), dropCaches);
      rows.push({ work: 'first full read of the tree', fs, ours: readMount, peer: readTree, peerName: 'same read of a checkout', note: 'no aim given' });
    });

    await attempt(rows, fs, 'store size', async () => {
      const treeB = path.join(work, 'tree-extra');
      await mustRun(node, [cliPath, '--store', store, 'checkout', 'debian-extra', treeB]);
      sizes.push({ fs, store: await diskUsage(store), trees: (await diskUsage(tree)) + (await diskUsage(treeB)) });
    });
  } finally {
    await run('umount', [path.join(work, 'mnt')]); // still mounted only after a failure; its error is that failure's
    await removeDir(work);
  }
  return rows;
}

function formatTable(rows: Row[]): string {
  const header = ['work', 'fs', 'ocitool s', 'peer', 'peer s', 'ratio', 'aim', 'met', 'peak RSS'];
  const lines = rows.map((r) => {
    if (!r.ours) return [r.work, r.fs, '-', r.peerName, '-', '-', '-', r.note?.startsWith('FAILED') ? 'FAILED (below)' : '-', ''];
    const ratio = r.peer ? r.ours.seconds / Math.max(r.peer.seconds, 0.001) : undefined;
    const met = r.aim === undefined || ratio === undefined ? '' : ratio <= r.aim ? 'yes' : 'NO';
    const rss = r.ours.maxRssMiB > 0 ? `${r.ours.maxRssMiB.toFixed(0)} MiB${r.ours.maxRssMiB > RSS_AIM_MIB ? ` (> ${RSS_AIM_MIB})` : ''}` : '';
    return [r.work, r.fs, r.ours.seconds.toFixed(3), r.peerName, r.peer ? r.peer.seconds.toFixed(3) : '-', ratio === undefined ? '-' : `${ratio.toFixed(2)}×`, r.aim !== undefined ? `≤ ${r.aim.toFixed(1)}×` : (r.note ?? ''), met, rss];
  });
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  return all.map((l, n) => {
    const text = l.map((c, i) => c.padEnd(widths[i]!)).join(' │ ').trimEnd();
    return n === 0 ? `${text}\n${widths.map((w) => '─'.repeat(w)).join('─┼─')}` : text;
  }).join('\n');
}

/** One checkout on tmpfs under --cpu-prof: the main thread's profile and each worker's. */
async function profileCheckout(layoutA: string): Promise<string> {
  const dir = path.join(TMPFS, `ocitool-bench-rootfs-prof-${process.pid}`);
  await fresh(dir);
  try {
    const store = path.join(dir, 'store');
    await mustRun(node, [cliPath, '--store', store, 'import-oci', '-q', layoutA, '--tag', 'debian']);
    const prof = path.join(dir, 'prof');
    await mustRun(node, ['--cpu-prof', '--cpu-prof-dir', prof, cliPath, '--store', store, 'checkout', 'debian', path.join(dir, 'out')]);
    const files = (await readdir(prof)).filter((f) => f.endsWith('.cpuprofile')).sort();
    const parts: string[] = [];
    for (const f of files) parts.push(`  ${f}:\n${summarizeProfile(JSON.parse(await readFile(path.join(prof, f), 'utf8')), 12)}`);
    return parts.join('\n') || 'no profile written';
  } finally {
    await removeDir(dir);
  }
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

export async function runRootfsBench(): Promise<void> {
  process.env.TMPDIR = TMPFS;
  const corpus = path.join(CACHE, 'debian-bookworm-minbase.tar');
  const layoutA = path.join(CACHE, 'images-v1', 'gzip');
  if (!(await exists(corpus)) || !(await exists(path.join(CACHE, 'images-v1', 'complete')))) {
    console.log(`\n== rootfs bench: not run: no corpus in ${CACHE} (BENCH_ONLY=realistic npm run bench builds it) ==`);
    return;
  }
  const layoutB = await extraLayout(corpus);
  console.log(`\n== rootfs bench: checkout, composefs, mount; Debian bookworm minbase (${mib((await stat(corpus)).size)} tar); best of ${RUNS} ==`);
  const rows: Row[] = [];
  const sizes: SizeRow[] = [];
  const notes: string[] = [];
  const tmpfsRoot = path.join(TMPFS, `ocitool-bench-rootfs-${process.pid}`);
  await fresh(tmpfsRoot);
  try {
    rows.push(...(await benchOn('tmpfs', tmpfsRoot, corpus, layoutA, layoutB, false, sizes)));
  } finally {
    await removeDir(tmpfsRoot);
  }
  for (const kind of ['ext4', 'xfs'] as const) {
    const loop = await mountLoop(kind);
    if (typeof loop === 'string') {
      notes.push(`${kind}: not run (${loop})`);
      continue;
    }
    try {
      rows.push(...(await benchOn(kind === 'xfs' ? 'xfs reflink' : 'ext4', loop.root, corpus, layoutA, layoutB, kind === 'xfs', sizes)));
    } finally {
      await loop.unmount();
    }
  }
  console.log(formatTable(rows));
  for (const s of sizes) console.log(`store size, minbase + minbase plus a small layer (${s.fs}): store ${mib(s.store)} (gzip blobs kept for push included), two checkouts ${mib(s.trees)}: ${(s.store / s.trees).toFixed(2)}×`);
  const peak = Math.max(0, ...rows.filter((r) => r.work.startsWith('checkout') && r.ours).map((r) => r.ours!.maxRssMiB));
  console.log(`peak RSS of checkout: ${peak.toFixed(0)} MiB (aim ≤ ${RSS_AIM_MIB} MiB: ${peak <= RSS_AIM_MIB ? 'met' : 'NOT met'})`);
  const aimed = rows.filter((r) => r.aim !== undefined && r.ours && r.peer);
  const missed = aimed.filter((r) => r.ours!.seconds / Math.max(r.peer!.seconds, 0.001) > r.aim!);
  console.log(`aims met: ${aimed.length - missed.length} of ${aimed.length}${missed.length ? `; missed: ${missed.map((r) => `${r.work} vs ${r.peerName} (${r.fs})`).join('; ')}` : ''}`);
  for (const r of rows) if (r.note?.startsWith('FAILED')) console.log(`${r.work} (${r.fs}): ${r.note}`);
  if (!isRoot) notes.push('not root: reads after a checkout are warm (page cache not dropped)');
  for (const note of notes) console.log(note);
  console.log('\nwhere checkout spends its time (node --cpu-prof, tmpfs; one profile per thread):');
  console.log(await profileCheckout(layoutA));
}

if (import.meta.url === `file://${process.argv[1]}`) await runRootfsBench();
