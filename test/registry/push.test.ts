/**
 * `ocitool push` and `ocitool copy` to the real registry (through the fault proxy where requests
 * are counted or broken): after every push skopeo reads back the source's digest, and copies the
 * image back with the source's blobs; a same-registry copy mounts; a chunked upload cut in the
 * middle resumes; bad input is one line, exit 1, and nothing tagged.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { mustRun, ocitool, removeDir, run, tempDir } from '../helpers/index.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { buildImage, imageAFiles, skopeoManifestDigest, type TestImage } from '../helpers/layouts.js';
import { skopeoRawDigest, startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushTwoPlatformIndex } from './fixtures.js';
import { copyImages } from '../../src/copy/engine.js';
import { openLayout } from '../../src/layout/source.js';
import { RegistrySink } from '../../src/registry/sink.js';

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

async function blobsOf(layout: string): Promise<string[]> {
  return (await readdir(path.join(layout, 'blobs', 'sha256'))).sort();
}

/** skopeo copies the pushed image back to a layout: its blobs must be the source's. */
async function assertSameBlobs(reference: string, sourceLayout: string, work: string, extra: string[] = []): Promise<void> {
  const back = path.join(work, `back-${Math.random().toString(36).slice(2)}`);
  await mustRun('skopeo', ['copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', ...extra, `docker://${reference}`, `oci:${back}:t`]);
  assert.deepEqual(await blobsOf(back), await blobsOf(sourceLayout));
}

/** The layer descriptors of the layout's image `tag`. */
async function layersOf(layout: string): Promise<{ digest: string; size: number }[]> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(layout, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return manifest.layers;
}

async function notTagged(reference: string, extra: string[] = []): Promise<void> {
  const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${reference}`]);
  assert.notEqual(r.code, 0, `${reference} is tagged: ${r.stdout}`);
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got: ${stderr}`);
  return lines[0]!;
}

describe('push and copy against the real registry', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  let work: string;
  let image: TestImage;
  before(async () => {
    registry = await startRegistry();
    proxy = await FaultProxy.start(registry.port);
    work = await tempDir('ocitool-push-');
    image = await buildImage(path.join(work, 'src'), 'a', imageAFiles());
    await pushTwoPlatformIndex(`${registry.host}/index:v1`, 41);
    await mustRun('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${image.gzip}:v1`, `docker://${registry.host}/docker-src:v1`]);
  });
  afterEach(() => proxy.clear());
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await removeDir(work);
  });

  for (const kind of ['plain', 'gzip', 'zstd'] as const) {
    test(`copy oci:${kind} docker://: skopeo reads back the source digest and blobs`, async () => {
      const ref = `${registry.host}/copy-${kind}:v1`;
      const r = await ocitool(['copy', '--quiet', `oci:${image[kind]}:v1`, `docker://${ref}`]);
      assert.equal(r.code, 0, r.stderr);
      const digest = await skopeoManifestDigest(image[kind], 'v1');
      assert.equal(lastLine(r.stdout), digest);
      assert.equal(await skopeoRawDigest(ref), digest);
      await assertSameBlobs(ref, image[kind], work);
    });
  }

  test('push from the store: same digest as pulled, a second push uploads nothing', async () => {
    const store = path.join(work, 'store-push');
    const src = `${registry.host}/copy-gzip:v1`;
    const pulled = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `store:${src}`], { store });
    assert.equal(pulled.code, 0, pulled.stderr);
    const r = await ocitool(['push', '--quiet', src, `${proxy.host}/pushed:v1`], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastLine(r.stdout), await skopeoRawDigest(src));
    assert.equal(await skopeoRawDigest(`${registry.host}/pushed:v1`), lastLine(r.stdout));
    // The tag goes last, in one manifest PUT, after every blob.
    const puts = proxy.log.filter((e) => e.method === 'PUT');
    assert.match(puts.at(-1)!.path, /\/manifests\/v1$/);
    assert.equal(puts.filter((e) => /\/manifests\//.test(e.path)).length, 1);
    proxy.clear();
    const again = await ocitool(['push', '--quiet', src, `${proxy.host}/pushed:v1`], { store });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(proxy.log.filter((e) => e.method === 'POST' || e.method === 'PATCH').length, 0, 'HEAD before upload: nothing uploaded twice');
  });

  test('same-registry copy of a Docker v2s2 image mounts every blob, uploads none', async () => {
    const r = await ocitool(['copy', '--quiet', `docker://${proxy.host}/docker-src:v1`, `docker://${proxy.host}/docker-dst:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const digest = await skopeoRawDigest(`${registry.host}/docker-src:v1`);
    assert.equal(lastLine(r.stdout), digest);
    assert.equal(await skopeoRawDigest(`${registry.host}/docker-dst:v1`), digest);
    const uploads = proxy.log.filter((e) => (e.method === 'PUT' || e.method === 'PATCH') && e.path.includes('/blobs/uploads/'));
    assert.equal(uploads.length, 0, 'no blob was uploaded');
    assert.ok(proxy.log.some((e) => e.method === 'POST' && e.path.includes('/docker-dst/blobs/uploads/')), 'mount requests were made');
    assert.equal(proxy.log.filter((e) => e.method === 'GET' && /\/blobs\/sha256:/.test(e.path) && e.path.includes('docker-src')).length <= 1, true, 'only the config is read');
  });

  test('an OCI index and a Docker list: copy --all-platforms and push --all-platforms keep the digest; --platform pushes one manifest', async () => {
    const src = `${registry.host}/index:v1`;
    const digest = await skopeoRawDigest(src);
    const copied = await ocitool(['copy', '--quiet', '--all-platforms', `docker://${src}`, `docker://${registry.host}/index-copy:v1`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.equal(lastLine(copied.stdout), digest);
    assert.equal(await skopeoRawDigest(`${registry.host}/index-copy:v1`), digest);
    const store = path.join(work, 'store-index');
    assert.equal((await ocitool(['pull', '--quiet', '--all-platforms', src], { store })).code, 0);
    const pushed = await ocitool(['push', '--quiet', '--all-platforms', src, `${registry.host}/index-pushed:v1`], { store });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(await skopeoRawDigest(`${registry.host}/index-pushed:v1`), digest);
    const back = path.join(work, 'index-back');
    await mustRun('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${registry.host}/index-pushed:v1`, `oci:${back}:t`]);
    const orig = path.join(work, 'index-orig');
    await mustRun('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${src}`, `oci:${orig}:t`]);
    assert.deepEqual(await blobsOf(back), await blobsOf(orig));
    // A Docker manifest list (skopeo converts the index), copied whole and mounted: same bytes.
    await mustRun('skopeo', ['copy', '--quiet', '--all', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${src}`, `docker://${registry.host}/list:v1`]);
    assert.equal(JSON.parse(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/list:v1`])).mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const list = await ocitool(['copy', '--quiet', '--all-platforms', `docker://${registry.host}/list:v1`, `docker://${registry.host}/list-copy:v1`]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(await skopeoRawDigest(`${registry.host}/list-copy:v1`), await skopeoRawDigest(`${registry.host}/list:v1`));
    const arm = await ocitool(['push', '--quiet', '--platform', 'linux/arm64', src, `${registry.host}/index-arm:v1`], { store });
    assert.equal(arm.code, 0, arm.stderr);
    const rawIndex = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${src}`]));
    const armDigest = rawIndex.manifests.find((m: { platform: { architecture: string } }) => m.platform.architecture === 'arm64').digest;
    assert.equal(lastLine(arm.stdout), armDigest);
    assert.equal(await skopeoRawDigest(`${registry.host}/index-arm:v1`), armDigest);
  });

  test('a chunked upload cut in the middle resumes and completes', async () => {
    const layout = await openLayout(image.plain);
    let patches = 0;
    // The second PATCH loses its connection half-way through its body.
    proxy.addFault({ kind: 'drop-upload', method: 'PATCH', match: (p) => p.includes('/blobs/uploads/') && ++patches === 2 });
    const sink = new RegistrySink(proxy.host, 'resumed', { chunkSize: 16 * 1024, reopen: (d) => layout.openBlob(d) });
    const index = JSON.parse(await readFile(path.join(image.plain, 'index.json'), 'utf8'));
    const { annotations: _a, ...root } = index.manifests[0];
    try {
      const [result] = await copyImages(layout, sink, [{ descriptor: root, names: ['v1'] }]);
      assert.equal(result!.descriptor.digest, root.digest);
    } finally {
      await layout.close();
    }
    assert.ok(patches >= 2, 'the upload went in chunks');
    assert.ok(sink.counters.resumes >= 1, 'the upload resumed');
    assert.ok(proxy.log.some((e) => e.method === 'GET' && e.path.includes('/blobs/uploads/')), 'the upload status was asked');
    assert.equal(await skopeoRawDigest(`${registry.host}/resumed:v1`), root.digest);
    await assertSameBlobs(`${registry.host}/resumed:v1`, image.plain, work);
  });

  test('a 503 on a chunk: the upload asks where it stands and goes on', async () => {
    const layout = await openLayout(image.gzip);
    proxy.addFault({ kind: 'unavailable', method: 'PATCH', match: (p) => p.includes('/blobs/uploads/') });
    const sink = new RegistrySink(proxy.host, 'after-503', { chunkSize: 64 * 1024, reopen: (d) => layout.openBlob(d) });
    const index = JSON.parse(await readFile(path.join(image.gzip, 'index.json'), 'utf8'));
    const { annotations: _a, ...root } = index.manifests[0];
    try {
      await copyImages(layout, sink, [{ descriptor: root, names: ['v1'] }]);
    } finally {
      await layout.close();
    }
    assert.equal(sink.counters.resumes, 1);
    assert.equal(await skopeoRawDigest(`${registry.host}/after-503:v1`), root.digest);
  });

  test('a source missing a blob: one line naming it, exit 1, nothing tagged', async () => {
    const broken = path.join(work, 'broken');
    await mustRun('cp', ['-r', image.gzip, broken]);
    const layer = (await layersOf(broken))[0]!;
    await rm(path.join(broken, 'blobs', 'sha256', layer.digest.slice(7)));
    const r = await ocitool(['copy', '--quiet', `oci:${broken}:v1`, `docker://${registry.host}/broken:v1`]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), new RegExp(layer.digest.slice(7, 19)));
    await notTagged(`${registry.host}/broken:v1`);
  });

  test('a registry answering another digest for a manifest: exit 1, named', async () => {
    proxy.addFault({ kind: 'headers', method: 'PUT', match: (p) => /\/manifests\//.test(p), headers: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` } });
    const r = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `docker://${proxy.host}/other-digest:v1`]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /manifest sha256:[0-9a-f]+ as tag v1 to registry .*answered digest sha256:0{64}/);
  });

  test('a registry answering another digest for a blob: exit 1, nothing tagged', async () => {
    proxy.addFault({ kind: 'headers', method: 'PUT', times: 10, match: (p) => p.includes('/blobs/uploads/'), headers: { 'docker-content-digest': `sha256:${'1'.repeat(64)}` } });
    const r = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `docker://${proxy.host}/other-blob-digest:v1`]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /blob sha256:[0-9a-f]+ to registry .*answered digest sha256:1{64}/);
    await notTagged(`${registry.host}/other-blob-digest:v1`);
  });

  test('a manifest the registry rejects with BLOB_UNKNOWN (a HEAD that lied): exit 1, the registry\'s code', async () => {
    const layer = (await layersOf(image.zstd))[0]!;
    proxy.addFault({ kind: 'headers', method: 'HEAD', times: 10, match: (p) => p.endsWith(layer.digest), status: 200, headers: { 'content-length': String(layer.size) } });
    const r = await ocitool(['copy', '--quiet', `oci:${image.zstd}:v1`, `docker://${proxy.host}/blob-unknown:v1`]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /manifest sha256:[0-9a-f]+ as tag v1 to registry .*HTTP 400 .*(BLOB_UNKNOWN|MANIFEST_BLOB_UNKNOWN)/);
    await notTagged(`${registry.host}/blob-unknown:v1`);
  });

  test('a name the registry rejects: exit 1, its code', async () => {
    proxy.addFault({ kind: 'body', method: 'POST', times: 10, match: (p) => p.includes('/blobs/uploads/'), status: 400, body: Buffer.from('{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}') });
    const r = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `docker://${proxy.host}/rejected:v1`]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /blob sha256:[0-9a-f]+ upload to registry .*HTTP 400 NAME_INVALID/);
  });
});

describe('push with auth', () => {
  let work: string;
  let image: TestImage;
  before(async () => {
    work = await tempDir('ocitool-push-auth-');
    image = await buildImage(path.join(work, 'src'), 'b', imageAFiles());
  });
  after(() => removeDir(work));

  test('basic auth: push with --creds, skopeo reads back the digest', async () => {
    const registry = await startRegistry({ basicAuth: { username: 'alice', password: 's3cret' } });
    try {
      const ref = `${registry.host}/basic:v1`;
      const refused = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `docker://${ref}`], { env: { DOCKER_CONFIG: work, REGISTRY_AUTH_FILE: path.join(work, 'none.json') } });
      assert.equal(refused.code, 1);
      oneLine(refused.stderr);
      const r = await ocitool(['copy', '--quiet', '--creds', 'alice:s3cret', `oci:${image.gzip}:v1`, `docker://${ref}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await skopeoRawDigest(ref, ['--creds', 'alice:s3cret']), await skopeoManifestDigest(image.gzip, 'v1'));
    } finally {
      await registry.stop();
    }
  });

  test('token auth: anonymous may pull but not push (one line, exit 1), the user may push', async () => {
    const registry = await startRegistry({ token: true, tokenPushUser: { username: 'bob', password: 'pw' } });
    try {
      const ref = `${registry.host}/tokened:v1`;
      const env = { DOCKER_CONFIG: work, REGISTRY_AUTH_FILE: path.join(work, 'none.json') };
      const refused = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `docker://${ref}`], { env });
      assert.equal(refused.code, 1);
      assert.match(oneLine(refused.stderr), /to registry .*HTTP 401/);
      assert.ok(registry.tokens!.requests.some((q) => q.scope?.includes('tokened:pull,push')), 'push scope asked for');
      const r = await ocitool(['copy', '--quiet', '--creds', 'bob:pw', `oci:${image.gzip}:v1`, `docker://${ref}`], { env });
      assert.equal(r.code, 0, r.stderr);
      const digest = await skopeoManifestDigest(image.gzip, 'v1');
      assert.equal(lastLine(r.stdout), digest);
      // Anonymous pull works: ocitool pulls it back without credentials.
      const store = path.join(work, 'store-token');
      const pulled = await ocitool(['pull', '--quiet', ref], { store, env });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(lastLine(pulled.stdout), digest);
    } finally {
      await registry.stop();
    }
  });
  test('token auth: a same-registry copy asks push on the destination and pull on the mount source, and mounts', async () => {
    const registry = await startRegistry({ token: true });
    const proxy = await FaultProxy.start(registry.port);
    try {
      const src = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `docker://${proxy.host}/mount-src:v1`]);
      assert.equal(src.code, 0, src.stderr);
      proxy.clear();
      const r = await ocitool(['copy', '--quiet', `docker://${proxy.host}/mount-src:v1`, `docker://${proxy.host}/mount-dst:v1`]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(registry.tokens!.requests.some((q) => q.scope === 'repository:mount-dst:pull,push repository:mount-src:pull'), JSON.stringify(registry.tokens!.requests));
      assert.equal(proxy.log.filter((e) => (e.method === 'PUT' || e.method === 'PATCH') && e.path.includes('/blobs/uploads/')).length, 0, 'mounted, not uploaded');
      assert.equal(await skopeoRawDigest(`${registry.host}/mount-dst:v1`), lastLine(r.stdout));
      // By digest: the digest copied must be the one named.
      const bad = await ocitool(['copy', '--quiet', `docker://${proxy.host}/mount-src:v1`, `docker://${proxy.host}/by-digest@sha256:${'2'.repeat(64)}`]);
      assert.equal(bad.code, 1);
      assert.match(oneLine(bad.stderr), /the image copied is sha256:/);
    } finally {
      await proxy.stop();
      await registry.stop();
    }
  });

  test('an upload Location on another host gets no Authorization', async () => {
    const registry = await startRegistry({ basicAuth: { username: 'carol', password: 'pw' } });
    const proxy = await FaultProxy.start(registry.port);
    try {
      // The registry's upload session points at the proxy's second port: another origin.
      proxy.addFault({ kind: 'headers', method: 'POST', times: 10, match: (p) => p.includes('/blobs/uploads/'), headers: { location: `http://localhost:${proxy.redirectPort}/v2/elsewhere/blobs/uploads/x` } });
      const r = await ocitool(['copy', '--quiet', '--creds', 'carol:pw', `oci:${image.gzip}:v1`, `docker://${proxy.host}/elsewhere:v1`]);
      assert.ok(proxy.log.some((e) => e.port === 'main' && e.method === 'POST' && e.authorization), 'the registry itself got credentials');
      const there = proxy.log.filter((e) => e.port === 'redirect');
      assert.ok(there.length > 0, 'the upload went to the other host');
      assert.ok(there.every((e) => !e.authorization), 'no Authorization crossed hosts');
      assert.equal(r.code, 1);
      oneLine(r.stderr);
      await notTagged(`${registry.host}/elsewhere:v1`, ['--creds', 'carol:pw']);
    } finally {
      await proxy.stop();
      await registry.stop();
    }
  });
});
