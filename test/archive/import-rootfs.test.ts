/** import-rootfs: deterministic one-layer images from rootfs tarballs, checked with xz, sha256sum, umoci. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../src/store/store.js';
import { sampleRootfs, writeRootfsTar } from '../helpers/images.js';
import { mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';

let dir: string;
let tarXz: string;

before(async () => {
  dir = await tempDir('ocitool-rootfs-');
  const plain = path.join(dir, 'rootfs.tar');
  await writeRootfsTar(plain, sampleRootfs(5, 30));
  await mustRun('xz', ['-k', plain]);
  tarXz = `${plain}.xz`;
});

after(async () => {
  await removeDir(dir);
});

async function importInto(store: string, extra: string[] = []): Promise<string> {
  const r = await ocitool(['import-rootfs', tarXz, '--tag', 'example/rootfs:1', '-q', ...extra], { store });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test('import-rootfs of the same .tar.xz into two stores gives the same manifest digest', async () => {
  const first = await importInto(path.join(dir, 's1'));
  const second = await importInto(path.join(dir, 's2'));
  assert.match(first, /^sha256:[0-9a-f]{64}$/);
  assert.equal(first, second);
  const other = await importInto(path.join(dir, 's3'), ['--platform', 'linux/arm64/v8']);
  assert.notEqual(other, first);
});

test('the layer is gzip with no mtime and a fixed OS byte, and its diff_id is the sha256 of the unpacked tarball', async () => {
  const store = await Store.open(path.join(dir, 's1'));
  const tag = await store.readTag('docker.io/example/rootfs:1');
  const manifest = JSON.parse((await store.readBlob(tag!.descriptor.digest)).toString()) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
  const config = JSON.parse((await store.readBlob(manifest.config.digest as never)).toString()) as { created: string; architecture: string; rootfs: { diff_ids: string[] } };
  const expected = (await mustRun('bash', ['-c', `xz -dc '${tarXz}' | sha256sum`])).split(' ')[0];
  assert.deepEqual(config.rootfs.diff_ids, [`sha256:${expected}`]);
  assert.equal(config.created, '1970-01-01T00:00:00Z');
  assert.equal(config.architecture, 'amd64');
  assert.equal(manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const head: Buffer[] = [];
  for await (const chunk of await store.openBlob(manifest.layers[0]!.digest as never)) {
    head.push(chunk as Buffer);
    break;
  }
  const bytes = Buffer.concat(head);
  assert.deepEqual([...bytes.subarray(4, 8)], [0, 0, 0, 0], 'gzip mtime is zero');
  assert.equal(bytes[9], 255, 'gzip OS byte is "unknown"');
});

test('the imported image saves to a layout that umoci unpacks with the tarball\'s files', async () => {
  const out = path.join(dir, 'rootfs-oci.tar');
  const r = await ocitool(['save', '--oci', 'example/rootfs:1', '-o', out], { store: path.join(dir, 's1') });
  assert.equal(r.code, 0, r.stderr);
  const layout = path.join(dir, 'layout');
  await mkdir(layout);
  await mustRun('tar', ['-xf', out, '-C', layout]);
  await mustRun('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1', layout]);
  await mustRun('umoci', ['unpack', '--image', `${layout}:1`, path.join(dir, 'bundle')]);
  assert.match(await readFile(path.join(dir, 'bundle', 'rootfs', 'etc', 'os-release'), 'utf8'), /SEED=5/);
});

test('a file that is not a tar gives one line, exit 1, and no tag', async () => {
  const bad = path.join(dir, 'bad.tar.gz');
  await writeFile(path.join(dir, 'bad'), 'x'.repeat(5000));
  await mustRun('bash', ['-c', `gzip -c '${path.join(dir, 'bad')}' > '${bad}'`]);
  const store = path.join(dir, 's1');
  const r = await ocitool(['import-rootfs', bad, '--tag', 'example/bad:1'], { store });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /bad\.tar\.gz: .*tar/);
  assert.equal(await (await Store.open(store)).readTag('docker.io/example/bad:1'), undefined);
});
