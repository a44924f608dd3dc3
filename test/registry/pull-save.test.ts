// A partly pulled index across commands: pull one platform of a two-platform index, then save
// it. The store keeps the index digest; save writes only what is present (the one manifest, as
// skopeo and crane do), says what it left out, and the tar loads into a fresh store.
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { skopeoRawDigest, startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushTwoPlatformIndex } from './fixtures.js';

let registry: RegistryInstance;
let work: string;

before(async () => {
  registry = await startRegistry();
  await pushTwoPlatformIndex(`${registry.host}/index:v1`, 51);
  work = await tempDir('ocitool-pull-save-');
});
after(async () => {
  await registry.stop();
  await removeDir(work);
});

test('save of an index pulled for one platform writes that platform and names what it left out', async () => {
  const store = path.join(work, 'store');
  const ref = `${registry.host}/index:v1`;
  const pulled = await ocitool(['pull', '-q', '--platform', 'linux/arm64', ref], { store });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.stdout.trim(), await skopeoRawDigest(ref), 'the store keeps the index digest');
  const index = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
  const arm = index.manifests.find((m: { platform: { architecture: string } }) => m.platform.architecture === 'arm64');

  const tarFile = path.join(work, 'saved.tar');
  const saved = await ocitool(['save', '--oci', ref, '-o', tarFile], { store });
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stderr, /left out linux\/amd64/);
  const raw = await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${tarFile}:v1`]);
  assert.equal(`sha256:${createHash('sha256').update(Buffer.from(raw)).digest('hex')}`, arm.digest, 'the saved root is the arm64 manifest, unchanged');

  const fresh = path.join(work, 'fresh');
  const loaded = await ocitool(['load', '--oci', '-i', tarFile], { store: fresh });
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.match(loaded.stdout, new RegExp(arm.digest));
  assert.equal((await ocitool(['fsck'], { store: fresh })).code, 0);
});

test('a second partial pull of the same index adds its platform: gc keeps both, save writes both', async () => {
  const store = path.join(work, 'store-two');
  const ref = `${registry.host}/index:v1`;
  assert.equal((await ocitool(['pull', '-q', '--platform', 'linux/amd64', ref], { store })).code, 0);
  assert.equal((await ocitool(['pull', '-q', '--platform', 'linux/arm64', ref], { store })).code, 0);
  const gc = await ocitool(['gc'], { store });
  assert.equal(gc.code, 0, gc.stderr);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
  const inspect = JSON.parse((await ocitool(['inspect', ref], { store })).stdout);
  assert.equal(inspect.manifests.length, 2);
  assert.deepEqual(inspect.manifests.map((m: { platform: string }) => m.platform.split('/').slice(0, 2).join('/')).sort(), ['linux/amd64', 'linux/arm64']);
  const tarFile = path.join(work, 'saved-two.tar');
  const saved = await ocitool(['save', '--oci', ref, '-o', tarFile], { store });
  assert.equal(saved.code, 0, saved.stderr);
  assert.equal(`sha256:${createHash('sha256').update(Buffer.from(await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${tarFile}:v1`]))).digest('hex')}`, await skopeoRawDigest(ref), 'both platforms held: the saved root is the original index');
});
