/**
 * The seed's `save --oci` / `load --oci` examples through the real CLI and store: refs from tags,
 * the clash message, --ref both ways, --name, stdin and stdout, determinism, digests kept, docker
 * archives tagged by RepoTags, and failures that leave the store exactly as it was.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../src/store/store.js';
import { cliPath, listFiles, mustRun, ocitool, removeDir, run, tempDir } from '../helpers/index.js';
import { makeLayout, skopeoToDockerArchive, rewriteTar } from './helpers.js';

let dir: string;
let store: string;
const digests = new Map<string, string>();

async function tags(storeDir: string): Promise<Map<string, string>> {
  const s = await Store.open(storeDir);
  return new Map((await s.listTags()).map((t) => [t.name, t.descriptor.digest as string]));
}

async function ok(args: string[], options: { store?: string; input?: Buffer } = {}): Promise<string> {
  const r = await ocitool(args, { store: options.store ?? store, input: options.input });
  assert.equal(r.code, 0, `ocitool ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  dir = await tempDir('ocitool-save-load-');
  store = path.join(dir, 'store');
  let seed = 10;
  for (const name of ['ubuntu:15.10', 'ubuntu:16.04', 'redis:latest', 'alpine:latest']) {
    const layout = await makeLayout(path.join(dir, `src-${seed}`), seed++, 'x');
    const out = await ok(['import-oci', layout, '--tag', name, '-q']);
    digests.set(`docker.io/library/${name}`, out.trim());
  }
});

after(async () => {
  await removeDir(dir);
});

test('save --oci ubuntu:15.10 ubuntu:16.04 gives refs 15.10 and 16.04, full names in io.containerd.image.name, and skopeo reads both', async () => {
  const out = path.join(dir, 'multi.tar');
  await ok(['save', '--oci', 'ubuntu:15.10', 'ubuntu:16.04', '-o', out]);
  const index = JSON.parse(await mustRun('tar', ['-xOf', out, 'index.json'])) as { manifests: { digest: string; annotations: Record<string, string> }[] };
  assert.deepEqual(index.manifests.map((m) => m.annotations), [
    { 'io.containerd.image.name': 'docker.io/library/ubuntu:15.10', 'org.opencontainers.image.ref.name': '15.10' },
    { 'io.containerd.image.name': 'docker.io/library/ubuntu:16.04', 'org.opencontainers.image.ref.name': '16.04' },
  ]);
  for (const tag of ['15.10', '16.04']) {
    const raw = await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${out}:${tag}`]);
    assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, digests.get(`docker.io/library/ubuntu:${tag}`));
    await mustRun('skopeo', ['copy', '--quiet', `oci-archive:${out}:${tag}`, `oci:${path.join(dir, 'back-' + tag)}:${tag}`]);
  }
  // Docker's loader view of the same file.
  const viaDocker = await mustRun('skopeo', ['inspect', '--raw', `docker-archive:${out}:ubuntu:16.04`]);
  assert.match(viaDocker, /layers/);
});

test('save twice (and with the images named in another order) gives the same bytes; stdout works', async () => {
  const a = path.join(dir, 'det-a.tar');
  await ok(['save', '--oci', 'ubuntu:15.10', 'ubuntu:16.04', '-o', a]);
  const r = await ocitool(['save', '--oci', 'ubuntu:16.04', 'ubuntu:15.10'], { store });
  assert.equal(r.code, 0, r.stderr);
  const viaStdout = await ocitoolBytes(['save', '--oci', 'ubuntu:16.04', 'ubuntu:15.10']);
  assert.deepEqual(viaStdout, await readFile(a));
});

test('save --oci redis alpine stops with the clash message and a hint, writing nothing', async () => {
  const out = path.join(dir, 'clash.tar');
  const r = await ocitool(['save', '--oci', 'redis', 'alpine', '-o', out], { store });
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /unable to include unique references in oci image/);
  assert.match(lines[0]!, /--ref/);
  await assert.rejects(readFile(out));
});

test('save and load with --ref redis=redis-latest --ref alpine=alpine-latest round-trip into a fresh store with the same digests', async () => {
  const out = path.join(dir, 'refs.tar');
  await ok(['save', '--oci', '--ref', 'redis=redis-latest', '--ref', 'alpine=alpine-latest', 'redis', 'alpine', '-o', out]);
  const fresh = path.join(dir, 'store-refs');
  const printed = await ok(['load', '--oci', '--ref', 'redis=redis-latest', '--ref', 'alpine=alpine-latest', '-i', out], { store: fresh });
  assert.match(printed, /docker\.io\/library\/redis:latest sha256:/);
  const loaded = await tags(fresh);
  assert.deepEqual([...loaded.keys()].sort(), ['docker.io/library/alpine:latest', 'docker.io/library/redis:latest']);
  for (const [name, digest] of loaded) assert.equal(digest, digests.get(name));
  await ok(['fsck'], { store: fresh });
});

test('load --oci --name ubuntu from stdin makes every ref a tag of ubuntu', async () => {
  const fresh = path.join(dir, 'store-name');
  const input = await readFile(path.join(dir, 'multi.tar'));
  await ok(['load', '--oci', '--name', 'ubuntu'], { store: fresh, input });
  const loaded = await tags(fresh);
  assert.deepEqual([...loaded.keys()].sort(), ['docker.io/library/ubuntu:15.10', 'docker.io/library/ubuntu:16.04']);
  for (const [name, digest] of loaded) assert.equal(digest, digests.get(name));
});

test('load without --name or --ref uses io.containerd.image.name; a layout with bare refs stops with the refs and a hint', async () => {
  const fresh = path.join(dir, 'store-default');
  await ok(['load', '-i', path.join(dir, 'multi.tar')], { store: fresh });
  assert.equal((await tags(fresh)).size, 2);
  const bare = path.join(dir, 'bare.tar');
  await mustRun('skopeo', ['copy', '--quiet', `oci-archive:${path.join(dir, 'multi.tar')}:15.10`, `oci-archive:${bare}:15.10`]);
  const before = await listFiles(fresh);
  const r = await ocitool(['load', '-i', bare], { store: fresh });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /"15\.10".*--name/);
  assert.deepEqual(await listFiles(fresh), before);
});

test('load of a skopeo docker archive (compressed with gzip) tags the image with its RepoTags', async () => {
  const layout = await makeLayout(path.join(dir, 'dock'), 77, 'x', { repeatFirstLayer: true });
  const archive = path.join(dir, 'dock.tar');
  await skopeoToDockerArchive(layout, 'x', archive, 'example.com/team/app:3');
  await mustRun('gzip', ['-k', archive]);
  const fresh = path.join(dir, 'store-docker');
  const printed = await ok(['load', '-i', `${archive}.gz`], { store: fresh });
  assert.match(printed, /^example\.com\/team\/app:3 sha256:[0-9a-f]{64}$/m);
  const config = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', `docker-archive:${archive}`])) as { config: { digest: string } };
  const s = await Store.open(fresh);
  const tag = await s.readTag('example.com/team/app:3');
  const manifest = JSON.parse((await s.readBlob(tag!.descriptor.digest)).toString()) as { config: { digest: string } };
  assert.equal(manifest.config.digest, config.config.digest);
});

test('a corrupt layer in a loaded archive fails with one line and the store keeps exactly its tags and objects', async () => {
  const bad = path.join(dir, 'corrupt.tar');
  await rewriteTar([path.join(dir, 'refs.tar')], bad, (header, data) => {
    if (header.name.startsWith('blobs/') && data.length > 50_000) data[1000] ^= 0xff;
    return { header, data };
  });
  // A store holding other images (the ubuntu ones), but none of the blobs in the archive.
  const target = path.join(dir, 'store-corrupt');
  await ok(['load', '--name', 'ubuntu', '-i', path.join(dir, 'multi.tar')], { store: target });
  const before = await listFiles(target);
  const tagsBefore = await tags(target);
  const r = await ocitool(['load', '-q', '--oci', '--ref', 'redis=redis-latest', '--ref', 'alpine=alpine-latest', '-i', bad], { store: target });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  // The store's tar splitter or the verifying stream, whichever sees the damage first, names the layer.
  assert.match(r.stderr, /^ocitool: layer sha256:[0-9a-f]{64}.*(digest mismatch|not a tar)/);
  assert.deepEqual(await tags(target), tagsBefore);
  assert.deepEqual((await listFiles(target)).filter((f) => !f.startsWith('locks')), before.filter((f) => !f.startsWith('locks')));
});

test('load of an empty input gives one clear line', async () => {
  await writeFile(path.join(dir, 'empty.tar'), '');
  const r = await ocitool(['load', '-i', path.join(dir, 'empty.tar')], { store });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /empty\.tar: empty archive/);
});

/** Runs the CLI and returns its raw stdout bytes. */
async function ocitoolBytes(args: string[]): Promise<Buffer> {
  const { spawn } = await import('node:child_process');
  const { cliPath } = await import('../helpers/index.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, OCITOOL_STORE: store }, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`exit ${code}`))));
  });
}

test('load of the containerd-store fixture (nested index) loads the index whole under its io.containerd.image.name', async () => {
  const fixtures = path.join(dir, 'fixtures');
  const { makeFixtureArchives } = await import('./helpers.js');
  await makeFixtureArchives(fixtures);
  const fresh = path.join(dir, 'store-ctd');
  const printed = await ok(['load', '-q', '-i', path.join(fixtures, 'containerd.tar')], { store: fresh });
  const index = JSON.parse(await mustRun('tar', ['-xOf', path.join(fixtures, 'containerd.tar'), 'index.json'])) as { manifests: { digest: string }[] };
  assert.equal(printed.trim(), `docker.io/fixture/containerd:v1 ${index.manifests[0]!.digest}`);
  await ok(['fsck'], { store: fresh });
});

test('save refuses to write a tar to a terminal', async () => {
  const r = await run('script', ['-qec', `${process.execPath} ${cliPath} save --oci ubuntu:15.10`, '/dev/null'], { env: { OCITOOL_STORE: store } });
  assert.equal(r.code, 2);
  assert.match(r.stdout, /refusing to write a tar to a terminal/);
});
