/**
 * `ocitool pull` and `ocitool remote arches` as real processes against the real registry (through
 * the fault proxy where requests are counted or broken): digests equal skopeo's, layouts are read
 * by skopeo and umoci, stores pass fsck, failures leave the store as it was.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { cliPath, listFiles, mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { skopeoRawDigest, startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushMultiLayer, pushSingleLayer, pushTwoPlatformIndex } from './fixtures.js';

/** The store's durable content: everything but staging (resumable partial downloads gc removes) and lock files. */
async function storeSnapshot(store: string): Promise<string[]> {
  return (await listFiles(store)).filter((f) => !f.startsWith('staging') && !f.startsWith('locks'));
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

async function fsckClean(store: string): Promise<void> {
  const r = await ocitool(['fsck'], { store });
  assert.equal(r.code, 0, `fsck: ${r.stdout}${r.stderr}`);
}

describe('ocitool pull against the real registry', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  let work: string;
  before(async () => {
    registry = await startRegistry();
    await pushSingleLayer(`${registry.host}/single:v1`, 31);
    await pushMultiLayer(`${registry.host}/multi:v1`, 32);
    await pushSingleLayer(`${registry.host}/zstd:v1`, 33, { compression: 'zstd' });
    await pushTwoPlatformIndex(`${registry.host}/index:v1`, 34);
    proxy = await FaultProxy.start(registry.port);
    work = await tempDir('ocitool-pull-');
  });
  afterEach(() => proxy.clear());
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await removeDir(work);
  });

  for (const repo of ['single', 'multi', 'zstd']) {
    test(`pulls ${repo} into the store with skopeo's digest, fsck clean`, async () => {
      const store = path.join(work, `store-${repo}`);
      const r = await ocitool(['pull', `${registry.host}/${repo}:v1`], { store });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastLine(r.stdout), await skopeoRawDigest(`${registry.host}/${repo}:v1`));
      const images = await ocitool(['images'], { store });
      assert.match(images.stdout, new RegExp(`${registry.host}/${repo}:v1`));
      await fsckClean(store);
    });
  }

  test('--layout writes a layout skopeo copies and umoci unpacks', async () => {
    const layout = path.join(work, 'layout-multi');
    const r = await ocitool(['pull', '--layout', layout, `${registry.host}/multi:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const digest = await skopeoRawDigest(`${registry.host}/multi:v1`);
    assert.equal(lastLine(r.stdout), digest);
    const raw = await mustRun('skopeo', ['inspect', '--raw', `oci:${layout}:v1`]);
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`, digest);
    await mustRun('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `oci:${path.join(work, 'layout-copy')}:v1`]);
    const bundle = path.join(work, 'bundle-multi');
    await mustRun('umoci', ['unpack', '--rootless', '--image', `${layout}:v1`, bundle]);
    assert.equal(await readFile(path.join(bundle, 'rootfs', 'etc', 'hostname'), 'utf8'), 'ocitool\n');
  });

  test('--json prints only JSON lines, the last a result event with the digest; --quiet prints only the digest', async () => {
    const json = await ocitool(['pull', '--json', `${registry.host}/single:v1`], { store: path.join(work, 'store-json') });
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split('\n');
    const digest = await skopeoRawDigest(`${registry.host}/single:v1`);
    const events = lines.map((l) => JSON.parse(l) as { type: string; images?: Array<{ digest: string; names: string[]; platforms: string[] }> });
    const last = events.pop()!;
    assert.equal(last.type, 'result');
    assert.equal(last.images![0]!.digest, digest);
    assert.deepEqual(last.images![0]!.names, [`${registry.host}/single:v1`]);
    assert.equal(last.images![0]!.platforms.length, 1);
    assert.ok(events.some((e) => e.type === 'started') && events.some((e) => e.type === 'done'), json.stdout);
    const quiet = await ocitool(['pull', '--quiet', `${registry.host}/single:v1`], { store: path.join(work, 'store-quiet') });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, `${digest}\n`);
    assert.equal(quiet.stderr, '');
  });

  test('a second pull of the same image makes no blob request', async () => {
    const store = path.join(work, 'store-twice');
    const first = await ocitool(['pull', `${proxy.host}/multi:v1`], { store });
    assert.equal(first.code, 0, first.stderr);
    assert.ok(proxy.blobRequests >= 4, `first pull made ${proxy.blobRequests} blob requests`);
    proxy.clear();
    const second = await ocitool(['pull', `${proxy.host}/multi:v1`], { store });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(lastLine(second.stdout), lastLine(first.stdout));
    assert.equal(proxy.blobRequests, 0);
  });

  test('--platform linux/arm64 from an index stores only that platform', async () => {
    const store = path.join(work, 'store-arm64');
    const r = await ocitool(['pull', '--platform', 'linux/arm64', `${registry.host}/index:v1`], { store });
    assert.equal(r.code, 0, r.stderr);
    const indexDigest = await skopeoRawDigest(`${registry.host}/index:v1`);
    assert.equal(lastLine(r.stdout), indexDigest);
    const index = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/index:v1`]));
    const byArch = Object.fromEntries(index.manifests.map((m: { digest: string; platform: { architecture: string } }) => [m.platform.architecture, m.digest]));
    const tagFile = (await listFiles(path.join(store, 'tags')))[0]!;
    const tag = JSON.parse(await readFile(path.join(store, 'tags', tagFile), 'utf8'));
    assert.equal(tag.descriptor.digest, indexDigest);
    assert.deepEqual(tag.presentChildren, { [byArch.arm64]: true });
    const blobs = await listFiles(path.join(store, 'blobs'));
    assert.ok(blobs.some((b) => b.endsWith(byArch.arm64.slice(7))));
    assert.ok(!blobs.some((b) => b.endsWith(byArch.amd64.slice(7))), 'the amd64 manifest is not stored');
    await fsckClean(store);
  });

  test('remote arches lists bashbrew names with the index entries', async () => {
    const r = await ocitool(['remote', 'arches', '--json', `${registry.host}/index:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.digest, await skopeoRawDigest(`${registry.host}/index:v1`));
    assert.deepEqual(out.platforms.map((p: { arch: string }) => p.arch), ['amd64', 'arm64v8']);
    const single = await ocitool(['remote', 'arches', `${registry.host}/single:v1`]);
    assert.equal(single.code, 0, single.stderr);
    // A lone manifest: the platform comes from its config.
    assert.match(single.stdout, /^amd64\tlinux\/amd64\tsha256:[0-9a-f]{64}\t/);
  });

  test('a corrupted layer fails with one line and exit 1, and the store keeps what it had', async () => {
    const store = path.join(work, 'store-corrupt');
    assert.equal((await ocitool(['pull', `${proxy.host}/single:v1`], { store })).code, 0);
    const before = await storeSnapshot(store);
    proxy.addFault({ kind: 'corrupt', match: 'blob', times: 10 });
    const r = await ocitool(['pull', `${proxy.host}/multi:v1`], { store });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('ocitool:')).length, 1, r.stderr);
    assert.match(r.stderr, /digest mismatch/);
    assert.deepEqual(await storeSnapshot(store), before);
    await fsckClean(store);
  });

  test('bad input gives one line and exit 1: malformed reference, unknown algorithm, unknown tag, registry down', async () => {
    const store = path.join(work, 'store-bad');
    for (const ref of ['Bad//Ref', `${registry.host}/single@md5:${'a'.repeat(32)}`, `${registry.host}/single:missing`]) {
      const r = await ocitool(['pull', ref], { store });
      assert.equal(r.code, 1, `${ref}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    }
  });

  test('a pull killed with SIGKILL half-way completes when run again, fsck clean', async () => {
    const store = path.join(work, 'store-killed');
    proxy.addFault({ kind: 'stall', match: 'blob', times: 100 });
    const child = spawn(process.execPath, [cliPath, '--store', store, 'pull', `${proxy.host}/multi:v1`], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    for (let i = 0; i < 200 && proxy.blobRequests === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(proxy.blobRequests > 0, 'the pull reached the blobs');
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGKILL');
    await exited;
    proxy.clear();
    const r = await ocitool(['pull', `${proxy.host}/multi:v1`], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastLine(r.stdout), await skopeoRawDigest(`${registry.host}/multi:v1`));
    await fsckClean(store);
    const gc = await ocitool(['gc'], { store });
    assert.equal(gc.code, 0, gc.stderr);
    await fsckClean(store);
  });
  test('a pull killed after some layers were verified downloads only the rest when run again', async () => {
    const store = path.join(work, 'store-resume');
    const manifest = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/multi:v1`]));
    const layers = [...manifest.layers].sort((a: { size: number }, b: { size: number }) => b.size - a.size);
    const stalled = layers[0].digest as string;
    // Hold back the largest layer; let the others and the config finish.
    proxy.addFault({ kind: 'stall', match: (p: string) => p.endsWith(`/blobs/${stalled}`), times: 100 });
    const child = spawn(process.execPath, [cliPath, '--store', store, 'pull', '--json', `${proxy.host}/multi:v1`], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise((r) => child.once('exit', r));
    let done = 0;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        done += (d.toString().match(/"type":"done"/g) ?? []).length;
        if (done >= layers.length - 1) resolve();
      });
      setTimeout(resolve, 20000);
    });
    assert.equal(done, layers.length - 1, 'all layers but the stalled one verified before the kill');
    await new Promise((r) => setTimeout(r, 300)); // the publish of the last finished layer
    child.kill('SIGKILL');
    await exited;
    proxy.clear();
    const r = await ocitool(['pull', `${proxy.host}/multi:v1`], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.blobRequests, 1, 'only the stalled layer is fetched again');
    await fsckClean(store);
  });
});

describe('ocitool pull with credentials', () => {
  const creds = { username: 'puller', password: 'Pull-Secret-77' };
  let registry: RegistryInstance;
  let work: string;
  before(async () => {
    registry = await startRegistry({ basicAuth: creds });
    await pushSingleLayer(`${registry.host}/private:v1`, 41, { creds: `${creds.username}:${creds.password}` });
    work = await tempDir('ocitool-pull-auth-');
  });
  after(async () => {
    await registry.stop();
    await removeDir(work);
  });

  test('--creds pulls; bad credentials fail with one line that holds no secret', async () => {
    const store = path.join(work, 'store');
    const env = { HOME: work, DOCKER_CONFIG: path.join(work, 'nodocker'), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' };
    const ok = await ocitool(['pull', '--creds', `${creds.username}:${creds.password}`, `${registry.host}/private:v1`], { store, env });
    assert.equal(ok.code, 0, ok.stderr);
    const before = await storeSnapshot(store);
    const bad = await ocitool(['--debug', 'pull', '--creds', 'puller:Wrong-Secret-88', `${registry.host}/private:v1`], { store: path.join(work, 'store2'), env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ocitool: .*401/);
    assert.ok(!bad.stderr.includes('Wrong-Secret-88') && !bad.stdout.includes('Wrong-Secret-88'));
    assert.ok(!bad.stderr.includes(Buffer.from('puller:Wrong-Secret-88').toString('base64')));
    assert.deepEqual(await storeSnapshot(store), before);
  });

  test('credentials come from $REGISTRY_AUTH_FILE, docker config auths, and a credential helper', async () => {
    const { writeFile, mkdir, chmod } = await import('node:fs/promises');
    const auth = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
    const authFile = path.join(work, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const base = { HOME: work, XDG_RUNTIME_DIR: '', DOCKER_CONFIG: path.join(work, 'nodocker') };
    const viaAuthFile = await ocitool(['pull', `${registry.host}/private:v1`], { store: path.join(work, 's1'), env: { ...base, REGISTRY_AUTH_FILE: authFile } });
    assert.equal(viaAuthFile.code, 0, viaAuthFile.stderr);

    const dockerDir = path.join(work, 'docker');
    await mkdir(dockerDir, { recursive: true });
    await writeFile(path.join(dockerDir, 'config.json'), JSON.stringify({ auths: { [`http://${registry.host}/v2/`]: { auth } } }));
    const viaDocker = await ocitool(['pull', `${registry.host}/private:v1`], { store: path.join(work, 's2'), env: { ...base, REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: dockerDir } });
    assert.equal(viaDocker.code, 0, viaDocker.stderr);

    // A credential helper program on PATH, answering as docker-credential-* helpers do.
    const bin = path.join(work, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = path.join(bin, 'docker-credential-ocitooltest');
    await writeFile(helper, `#!/bin/sh\nread server\n[ "$server" = "${registry.host}" ] || exit 1\necho '{"ServerURL":"${registry.host}","Username":"${creds.username}","Secret":"${creds.password}"}'\n`);
    await chmod(helper, 0o755);
    const helperDir = path.join(work, 'docker-helper');
    await mkdir(helperDir, { recursive: true });
    await writeFile(path.join(helperDir, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'ocitooltest' } }));
    const viaHelper = await ocitool(['pull', `${registry.host}/private:v1`], { store: path.join(work, 's3'), env: { ...base, REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: helperDir, PATH: `${bin}:${process.env.PATH}` } });
    assert.equal(viaHelper.code, 0, viaHelper.stderr);
  });
});
