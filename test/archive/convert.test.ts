/**
 * convert: docker archives to OCI layout tars and folders through the copy engine, checked by the
 * real skopeo, umoci and oci-image-tool; the tar writer's output is byte-identical across runs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { openArchiveSource } from '../../src/archive/docker-archive.js';
import { convertArchive } from '../../src/archive/convert.js';
import { LayoutTarSink } from '../../src/archive/layout-tar-sink.js';
import { LayoutFolderSink } from '../../src/layout/folder-sink.js';
import type { Compression } from '../../src/oci/media-types.js';
import { mustRun, removeDir, tempDir } from '../helpers/index.js';
import { makeFixtureArchives, makeLayout, mergeDockerArchives, skopeoConfigFacts, skopeoToDockerArchive } from './helpers.js';

let dir: string;
let fixtures: string;
let spool: string;
let multi: string;

before(async () => {
  dir = await tempDir('ocitool-convert-');
  fixtures = path.join(dir, 'fixtures');
  spool = path.join(dir, 'spool');
  await mkdir(spool);
  await makeFixtureArchives(fixtures);
  const a = await makeLayout(path.join(dir, 'a'), 3, 'a', { repeatFirstLayer: true });
  const b = await makeLayout(path.join(dir, 'b'), 4, 'b');
  await skopeoToDockerArchive(a, 'a', path.join(dir, 'a.tar'), 'example.com/a:1');
  await skopeoToDockerArchive(b, 'b', path.join(dir, 'b.tar'), 'example.com/b:2');
  multi = path.join(dir, 'multi.tar');
  await mergeDockerArchives([path.join(dir, 'a.tar'), path.join(dir, 'b.tar')], multi);
});

after(async () => {
  await removeDir(dir);
});

async function convertToTar(input: string, output: string, compress: Compression | undefined, backed = true): Promise<void> {
  const source = await openArchiveSource({ file: input }, spool);
  try {
    const sink = new LayoutTarSink({ file: output }, { spoolParent: spool, ...(backed ? { backing: source } : {}) });
    await convertArchive(source, sink, { compress, spoolParent: spool });
  } finally {
    await source.close();
  }
}

const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

test('convert of a skopeo docker archive gives a layout tar skopeo accepts, with the config digest and diff_ids of skopeo\'s own oci copy', async () => {
  const out = path.join(dir, 'a-oci.tar');
  await convertToTar(path.join(dir, 'a.tar'), out, 'gzip');
  const ours = await skopeoConfigFacts(`oci-archive:${out}:1`);
  const skopeoOci = path.join(dir, 'a-skopeo-oci');
  await mustRun('skopeo', ['copy', '--quiet', `docker-archive:${path.join(dir, 'a.tar')}`, `oci:${skopeoOci}:1`]);
  const theirs = await skopeoConfigFacts(`oci:${skopeoOci}:1`);
  assert.equal(ours.configDigest, theirs.configDigest);
  assert.deepEqual(ours.diffIds, theirs.diffIds);
  const manifest = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${out}:1`])) as { layers: { mediaType: string }[] };
  assert.ok(manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip'));
  // skopeo copies it out again, verifying every blob.
  await mustRun('skopeo', ['copy', '--quiet', `oci-archive:${out}:1`, `oci:${path.join(dir, 'a-back')}:1`]);
});

test('the layout tar is byte-identical across runs, and with or without a backing source', async () => {
  const first = path.join(dir, 'det-1.tar');
  const second = path.join(dir, 'det-2.tar');
  const spooled = path.join(dir, 'det-3.tar');
  await convertToTar(path.join(fixtures, 'classic.tar'), first, 'gzip');
  await convertToTar(path.join(fixtures, 'classic.tar'), second, 'gzip');
  await convertToTar(path.join(fixtures, 'classic.tar'), spooled, 'gzip', false);
  assert.equal(await sha(first), await sha(second));
  assert.equal(await sha(first), await sha(spooled));
  const listing = (await mustRun('tar', ['-tvf', first])).trim().split('\n');
  const names = listing.map((l) => l.split(/\s+/).pop()!);
  assert.deepEqual(names, [...names].sort());
  assert.ok(listing.every((l) => /^[-d]rw.r..r.. 0\/0 /.test(l) && l.includes('1970-01-01')), listing.join('\n'));
  assert.deepEqual(names.filter((n) => !n.startsWith('blobs/')), ['index.json', 'manifest.json', 'oci-layout']);
});

for (const compress of ['gzip', 'zstd', 'none', undefined] as const) {
  test(`convert of the classic fixture (symlinked layer) with --compress ${compress ?? '(keep)'} unpacks with umoci and validates with oci-image-tool`, async () => {
    const out = path.join(dir, `classic-${compress}.tar`);
    await convertToTar(path.join(fixtures, 'classic.tar'), out, compress);
    const layout = path.join(dir, `classic-${compress}-layout`);
    await mkdir(layout);
    await mustRun('tar', ['-xf', out, '-C', layout]);
    // oci-image-tool 1.0.0 knows no zstd media type, and cannot walk tars (skopeo's oci-archive fails the same way): check the unpacked folder.
    if (compress !== 'zstd') await mustRun('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=v1', layout]);
    const bundle = path.join(dir, `classic-${compress}-bundle`);
    if (compress !== 'zstd') await mustRun('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    if (compress !== 'zstd') assert.equal((await readFile(path.join(bundle, 'rootfs', 'etc', 'layer-2'), 'utf8')), 'layer 2\n');
    else await mustRun('skopeo', ['copy', '--quiet', `oci-archive:${out}:v1`, `oci:${path.join(dir, 'zstd-back')}:v1`]);
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
    assert.deepEqual(index.manifests[0]!.annotations, { 'io.containerd.image.name': 'example.com/fixture/classic:v1', 'org.opencontainers.image.ref.name': 'v1' });
    const dockerManifest = JSON.parse(await readFile(path.join(layout, 'manifest.json'), 'utf8')) as { RepoTags: string[]; Layers: string[] }[];
    assert.deepEqual(dockerManifest[0]!.RepoTags, ['example.com/fixture/classic:v1']);
    assert.equal(dockerManifest[0]!.Layers.length, 3);
    // skopeo reads the same file as a docker archive through manifest.json.
    const viaDocker = await skopeoConfigFacts(`docker-archive:${out}`);
    const viaOci = await skopeoConfigFacts(`oci-archive:${out}:v1`);
    assert.equal(viaDocker.configDigest, viaOci.configDigest);
  });
}

test('convert of a multi-image archive to a layout folder names each image by its tag', async () => {
  const out = path.join(dir, 'multi-layout');
  const source = await openArchiveSource({ file: multi }, spool);
  try {
    await convertArchive(source, await LayoutFolderSink.create(out), { compress: 'gzip', spoolParent: spool });
  } finally {
    await source.close();
  }
  for (const [ref, archive] of [['1', 'a.tar'], ['2', 'b.tar']] as const) {
    await mustRun('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${ref}`, out]);
    const ours = await skopeoConfigFacts(`oci:${out}:${ref}`);
    const theirs = await skopeoConfigFacts(`docker-archive:${path.join(dir, archive)}`);
    assert.equal(ours.configDigest, theirs.configDigest);
    assert.deepEqual(ours.diffIds, theirs.diffIds);
  }
  assert.deepEqual(await readdir(spool), []);
});

test('convert of the containerd-store fixture (nested index, gzip layers) keeps its digests when not re-compressing', async () => {
  const out = path.join(dir, 'ctd.tar');
  await convertToTar(path.join(fixtures, 'containerd.tar'), out, 'gzip');
  const ours = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${out}:v1`]));
  const theirs = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${path.join(fixtures, 'containerd.tar')}:v1`]));
  assert.deepEqual(ours, theirs);
});

test('the convert command writes a tar or a folder and prints each name with the digest the output holds', async () => {
  const { ocitool } = await import('../helpers/index.js');
  for (const out of [path.join(dir, 'cli-out.tar'), path.join(dir, 'cli-out-layout')]) {
    const r = await ocitool(['convert', '-q', path.join(fixtures, 'classic.tar.xz'), '-o', out, '--compress', 'zstd']);
    assert.equal(r.code, 0, r.stderr);
    const [name, digest] = r.stdout.trim().split(' ');
    assert.equal(name, 'v1');
    const ref = out.endsWith('.tar') ? `oci-archive:${out}:v1` : `oci:${out}:v1`;
    const raw = await mustRun('skopeo', ['inspect', '--raw', ref]);
    assert.equal(digest, `sha256:${createHash('sha256').update(raw).digest('hex')}`);
  }
  const bad = await ocitool(['convert', path.join(fixtures, 'classic.tar'), '-o', path.join(dir, 'x.tar'), '--compress', 'lz4']);
  assert.equal(bad.code, 2);
});

test('convert refuses a layer whose content does not match the config diff_id, writing no output', async () => {
  // docker25.tar with its config's second diff_id replaced by the first (config, manifest and index re-hashed).
  const src = path.join(fixtures, 'docker25.tar');
  const layout = path.join(dir, 'diffid-layout');
  await mkdir(layout);
  await mustRun('tar', ['-xf', src, '-C', layout]);
  const { writeFile, rm } = await import('node:fs/promises');
  const blob = (d: string) => path.join(layout, 'blobs', 'sha256', d.slice(7));
  const put = async (data: Buffer) => {
    const d = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    await writeFile(blob(d), data);
    return d;
  };
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8'));
  config.rootfs.diff_ids[1] = config.rootfs.diff_ids[0];
  const configRaw = Buffer.from(JSON.stringify(config));
  manifest.config = { ...manifest.config, digest: await put(configRaw), size: configRaw.length };
  const manifestRaw = Buffer.from(JSON.stringify(manifest));
  index.manifests[0] = { ...index.manifests[0], digest: await put(manifestRaw), size: manifestRaw.length };
  await writeFile(path.join(layout, 'index.json'), JSON.stringify(index));
  await rm(path.join(layout, 'manifest.json'));
  const bad = path.join(dir, 'diffid.tar');
  await mustRun('tar', ['-cf', bad, '-C', layout, '.']);
  const out = path.join(dir, 'diffid-out.tar');
  await assert.rejects(convertToTar(bad, out, 'gzip'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'DIFFID_MISMATCH');
    assert.match(err.message, /layer sha256:[0-9a-f]{64}: uncompressed content has digest sha256:.* but the config's diff_id is sha256:/);
    return true;
  });
  await assert.rejects(readFile(out));
  assert.deepEqual(await readdir(spool), []);
});

test('convert --compression-level: gzip defaults to level 1 (the same bytes as asking for 1), 6 writes other bytes of the same tar; bad levels are refused', async () => {
  const { ocitool } = await import('../helpers/index.js');
  const layerDigests = async (out: string): Promise<string[]> => {
    const manifest = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', `oci:${out}:v1`]));
    return manifest.layers.map((l: { digest: string }) => l.digest);
  };
  const outs: Record<string, string[]> = {};
  for (const [name, extra] of [['default', []], ['one', ['--compression-level', '1']], ['six', ['--compression-level', '6']]] as const) {
    const out = path.join(dir, `level-${name}`);
    const r = await ocitool(['convert', '-q', path.join(fixtures, 'classic.tar'), '-o', out, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    outs[name] = await layerDigests(out);
  }
  assert.deepEqual(outs.default, outs.one);
  assert.notDeepEqual(outs.one, outs.six);
  // The same tar inside: each layer of level 6 decompresses to the bytes of its level-1 twin.
  for (let i = 0; i < outs.one!.length; i++) {
    const unpacked = async (name: string) => createHash('sha256').update(await gunzipFile(path.join(dir, `level-${name}`, 'blobs', 'sha256', outs[name]![i]!.slice(7)))).digest('hex');
    assert.equal(await unpacked('six'), await unpacked('one'));
  }
  for (const [args, message] of [
    [['--compression-level', '10'], /a whole number from 1 to 9 for gzip/],
    [['--compression-level', '0'], /a whole number from 1 to 9 for gzip/],
    [['--compress', 'zstd', '--compression-level', '20'], /from 1 to 19 for zstd/],
    [['--compress', 'none', '--compression-level', '3'], /--compress none has no level/],
  ] as const) {
    const r = await ocitool(['convert', path.join(fixtures, 'classic.tar'), '-o', path.join(dir, 'level-bad'), ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});

async function gunzipFile(file: string): Promise<Buffer> {
  const { gunzipSync } = await import('node:zlib');
  return gunzipSync(await readFile(file));
}

test('a folder output takes re-compressed layers by rename, and by copy when the spool is on another filesystem (EXDEV)', async () => {
  // /dev/shm is a tmpfs; the test folder is not: renaming between them fails with EXDEV.
  const { mkdtemp, rm, stat: statOf } = await import('node:fs/promises');
  const otherFs = await mkdtemp('/dev/shm/ocitool-convert-spool-');
  assert.notEqual((await statOf(otherFs)).dev, (await statOf(dir)).dev, 'the spool must be on another filesystem');
  try {
    const results: Record<string, string> = {};
    for (const [name, spoolParent] of [['same', spool], ['other', otherFs]] as const) {
      const out = path.join(dir, `adopt-${name}`);
      const source = await openArchiveSource({ file: path.join(fixtures, 'classic.tar') }, spoolParent);
      try {
        await convertArchive(source, await LayoutFolderSink.create(out), { compress: 'gzip', spoolParent });
      } finally {
        await source.close();
      }
      const raw = await mustRun('skopeo', ['inspect', '--raw', `oci:${out}:v1`]);
      const manifest = JSON.parse(raw);
      for (const layer of manifest.layers) {
        const file = path.join(out, 'blobs', 'sha256', layer.digest.slice(7));
        assert.equal(`sha256:${await sha(file)}`, layer.digest, 'each layer file holds its digest');
      }
      results[name] = raw;
      assert.deepEqual(await readdir(spoolParent), [], 'nothing left in the spool');
    }
    assert.equal(results.same, results.other);
  } finally {
    await rm(otherFs, { recursive: true, force: true });
  }
});
