// composefs images of stored images: stored and remembered, the id equals `fsverity digest` of
// the image, fsck.erofs accepts it, gc keeps it; mounted (root, erofs and overlay in the kernel)
// it equals umoci's unpack of the same image (also after a version-0 image was stored for it); a
// missing object is refused before mounting.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readlink, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { mustRun, ocitool, removeDir, tempDir, listFiles } from '../helpers/index.js';
import { skopeoCopyLayout, writeOciLayout } from '../helpers/images.js';
import { layer1, layer2, listing, writeLayer } from './helpers.js';

let work: string;
let gzip: string;
let store: string;

before(async () => {
  work = await tempDir('ocitool-cfs-');
  await writeLayer(path.join(work, 'l1.tar'), layer1);
  await writeLayer(path.join(work, 'l2.tar'), layer2);
  const plain = path.join(work, 'plain');
  await writeOciLayout(plain, [path.join(work, 'l1.tar'), path.join(work, 'l2.tar')], 'v1');
  gzip = path.join(work, 'gzip');
  await skopeoCopyLayout(plain, gzip, 'v1', 'gzip');
  store = path.join(work, 'store');
  const r = await ocitool(['import-oci', gzip, '--tag', 'img'], { store });
  assert.equal(r.code, 0, r.stderr);
});
after(() => removeDir(work));

const kernelCanMount = async (): Promise<boolean> => {
  if (process.getuid?.() !== 0) return false;
  const fs = await readFile('/proc/filesystems', 'utf8');
  return /\berofs$/m.test(fs) && /\boverlay$/m.test(fs);
};

describe('composefs images from the store', () => {
  test('composefs IMAGE stores the image; its id is the fs-verity digest fsverity prints; fsck.erofs accepts it', async () => {
    const stored = await ocitool(['composefs', 'img'], { store });
    assert.equal(stored.code, 0, stored.stderr);
    const id = stored.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const file = path.join(work, 'img.cfs');
    assert.equal((await ocitool(['composefs', 'img', '-o', file], { store })).code, 0);
    const measured = (await mustRun('fsverity', ['digest', '--hash-alg=sha256', file])).split(' ')[0];
    assert.equal(measured, `sha256:${id}`);
    assert.equal((await ocitool(['composefs-id', 'img'], { store })).stdout.trim(), id);
    const sha512 = (await mustRun('fsverity', ['digest', '--hash-alg=sha512', file])).split(' ')[0];
    assert.equal(`sha512:${(await ocitool(['composefs-id', 'img', '--hash', 'sha512'], { store })).stdout.trim()}`, sha512);
    await mustRun('fsck.erofs', [file]);
    // Remembered for the manifest, as a link to the stored object.
    const links = await listFiles(path.join(store, 'composefs'));
    assert.equal(links.length, 1);
    assert.match(await readlink(path.join(store, 'composefs', links[0]!)), new RegExp(`objects/${id.slice(0, 2)}/${id.slice(2)}$`));
  });

  test('gc keeps the stored composefs image while the image is tagged, and fsck stays clean', async () => {
    assert.equal((await ocitool(['composefs', 'img'], { store })).code, 0);
    const gc = await ocitool(['gc'], { store });
    assert.equal(gc.code, 0, gc.stderr);
    const links = await listFiles(path.join(store, 'composefs'));
    const target = path.resolve(path.join(store, 'composefs', path.dirname(links[0]!)), await readlink(path.join(store, 'composefs', links[0]!)));
    assert.ok((await readFile(target)).length > 0, 'the image object is still there');
    const fsck = await ocitool(['fsck'], { store });
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  });

  test('after composefs --format-version 0 stored a version-0 image under the manifest link, mount stores and mounts its own', async (t) => {
    const own = path.join(work, 'store-v0');
    assert.equal((await ocitool(['import-oci', gzip, '--tag', 'img'], { store: own })).code, 0);
    const v0 = await ocitool(['composefs', 'img', '--format-version', '0'], { store: own });
    assert.equal(v0.code, 0, v0.stderr);
    const v0Id = v0.stdout.trim();
    const links = await listFiles(path.join(own, 'composefs'));
    assert.equal(links.length, 1);
    const link = path.join(own, 'composefs', links[0]!);
    assert.match(await readlink(link), new RegExp(`objects/${v0Id.slice(0, 2)}/${v0Id.slice(2)}$`));
    const v1Id = (await ocitool(['composefs-id', 'img'], { store: own })).stdout.trim();
    assert.notEqual(v1Id, v0Id, 'the two format versions are different images');
    const mnt = path.join(work, 'mnt-v0');
    await mkdir(mnt);
    if (!(await kernelCanMount())) {
      // Not a skip: the command must refuse with one line where it cannot mount.
      const r = await ocitool(['mount', 'img', mnt], { store: own });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /needs root|lacks/);
      t.diagnostic('no root or no erofs/overlay: checked the refusal instead of a mount');
      return;
    }
    const m = await ocitool(['mount', 'img', mnt], { store: own });
    assert.equal(m.code, 0, m.stderr);
    try {
      assert.match(m.stderr, new RegExp(`composefs id ${v1Id}`));
      // The version-1 image mounted is stored and linked (so gc keeps what is mounted).
      assert.match(await readlink(link), new RegExp(`objects/${v1Id.slice(0, 2)}/${v1Id.slice(2)}$`));
      assert.equal((await readFile(path.join(mnt, 'var/cache/c'))).length, 2 * 1024 * 1024);
    } finally {
      const u = await ocitool(['umount', mnt], { store: own });
      assert.equal(u.code, 0, u.stderr);
    }
    assert.deepEqual(await listFiles(mnt), [], 'unmounted');
  });

  test('mount equals umoci unpack by a full listing; umount; a missing object is refused before mounting', async (t) => {
    if (!(await kernelCanMount())) {
      // Not a skip: the command must refuse with one line where it cannot mount.
      const r = await ocitool(['mount', 'img', work], { store });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /needs root|lacks/);
      t.diagnostic('no root or no erofs/overlay: checked the refusal instead of a mount');
      return;
    }
    const mnt = path.join(work, 'mnt');
    await mkdir(mnt);
    const m = await ocitool(['mount', 'img', mnt], { store });
    assert.equal(m.code, 0, m.stderr);
    try {
      const bundle = path.join(work, 'umoci');
      await mustRun('umoci', ['unpack', '--image', `${gzip}:v1`, bundle]);
      assert.deepEqual(await listing(mnt), await listing(path.join(bundle, 'rootfs')));
    } finally {
      const u = await ocitool(['umount', mnt], { store });
      assert.equal(u.code, 0, u.stderr);
    }
    assert.deepEqual(await listFiles(mnt), [], 'unmounted');
    // Remove the 2 MiB file object: the mount is refused before anything is mounted.
    for (const o of await listFiles(path.join(store, 'objects'))) {
      const size = (await readFile(path.join(store, 'objects', o))).length;
      if (size === 2 * 1024 * 1024) await rm(path.join(store, 'objects', o));
    }
    const refused = await ocitool(['mount', 'img', mnt], { store });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /var\/cache\/c: store object [0-9a-f]{64} is missing/);
    assert.deepEqual(await listFiles(mnt), []);
  });
});
