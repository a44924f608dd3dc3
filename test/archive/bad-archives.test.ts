/** Bad archives give one OcitoolError naming the file and the cause, and leave no spool behind. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openArchiveSource } from '../../src/archive/docker-archive.js';
import { OcitoolError } from '../../src/errors.js';
import { removeDir, tempDir } from '../helpers/index.js';
import { craftTar, makeFixtureArchives, rewriteTar, walkSource, writeHugePaxTar } from './helpers.js';

let dir: string;
let fixtures: string;
let spool: string;

before(async () => {
  dir = await tempDir('ocitool-bad-archive-');
  fixtures = path.join(dir, 'fixtures');
  spool = path.join(dir, 'spool');
  await mkdir(spool);
  await makeFixtureArchives(fixtures);
});

after(async () => {
  await removeDir(dir);
});

/** Opens and walks every image; returns the error it fails with. */
async function failure(file: string): Promise<OcitoolError> {
  try {
    const source = await openArchiveSource({ file }, spool);
    try {
      for (const image of source.images) await walkSource(source, image.descriptor);
    } finally {
      await source.close();
    }
  } catch (err) {
    assert.ok(err instanceof OcitoolError, `not an OcitoolError: ${err}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.deepEqual(await readdir(spool), [], 'spool removed');
    return err;
  }
  assert.fail(`${file} was accepted`);
}

const classic = () => path.join(fixtures, 'classic.tar');

test('a truncated archive (gzip) is refused as an invalid tar naming the file', async () => {
  const file = path.join(dir, 'trunc.tar.gz');
  await copyFile(path.join(fixtures, 'classic.tar.gz'), file);
  await truncate(file, 700_000);
  const err = await failure(file);
  assert.match(err.message, /trunc\.tar\.gz/);
  assert.match(err.code, /TAR_INVALID|IO/);
});

test('a truncated plain archive is refused', async () => {
  const file = path.join(dir, 'trunc.tar');
  await copyFile(classic(), file);
  await truncate(file, 300_000);
  const err = await failure(file);
  assert.equal(err.code, 'TAR_INVALID');
  assert.match(err.message, /trunc\.tar/);
});

test('a symlink pointing out of the archive is refused', async () => {
  const file = path.join(dir, 'escape.tar');
  await craftTar(file, [{ name: 'manifest.json', content: '[]' }, { name: 'abc/layer.tar', type: 'symlink', linkname: '../../etc/passwd' }]);
  const err = await failure(file);
  assert.equal(err.code, 'PATH_UNSAFE');
  assert.match(err.message, /escape\.tar.*abc\/layer\.tar.*outside the archive/);
});

test('an absolute symlink target is refused', async () => {
  const file = path.join(dir, 'abslink.tar');
  await craftTar(file, [{ name: 'x/layer.tar', type: 'symlink', linkname: '/etc/passwd' }]);
  assert.equal((await failure(file)).code, 'PATH_UNSAFE');
});

test('an entry with ".." is refused', async () => {
  const file = path.join(dir, 'dotdot.tar');
  await craftTar(file, [{ name: 'a/../../evil', content: 'x' }]);
  const err = await failure(file);
  assert.equal(err.code, 'PATH_UNSAFE');
  assert.match(err.message, /\.\./);
});

test('an absolute entry name is refused', async () => {
  const file = path.join(dir, 'absolute.tar');
  await craftTar(file, [{ name: '/etc/evil', content: 'x' }]);
  assert.equal((await failure(file)).code, 'PATH_UNSAFE');
});

test('manifest.json naming a file outside the archive is refused', async () => {
  const file = path.join(dir, 'outside.tar');
  await rewriteTar([classic()], file, (header, data) => (header.name === './manifest.json'
    ? { header, data: Buffer.from(data.toString().replace(/"Config":"[^"]+"/, '"Config":"../../etc/passwd"')) }
    : { header, data }));
  const err = await failure(file);
  assert.equal(err.code, 'PATH_UNSAFE');
  assert.match(err.message, /manifest\.json entry 0 Config.*\.\./);
});

test('a PAX header of hundreds of MiB is refused without reading it', async () => {
  const file = path.join(dir, 'pax.tar');
  await writeHugePaxTar(file, 300 * 1024 * 1024);
  const err = await failure(file);
  assert.equal(err.code, 'TAR_INVALID');
  assert.match(err.message, /pax\.tar: .*PAX.*limit/);
});

test('an empty archive (zero bytes, and an empty tar) is refused', async () => {
  const zero = path.join(dir, 'zero.tar');
  await writeFile(zero, '');
  assert.match((await failure(zero)).message, /zero\.tar: empty archive/);
  const empty = path.join(dir, 'empty.tar');
  await craftTar(empty, []);
  assert.match((await failure(empty)).message, /empty\.tar: empty archive/);
});

test('a missing layer file is reported as a missing blob naming it', async () => {
  const file = path.join(dir, 'missing.tar');
  await rewriteTar([classic()], file, (header, data) => (header.name.endsWith('layer.tar') && header.type === 'file' && data.length > 600_000 ? undefined : { header, data }));
  const err = await failure(file);
  assert.equal(err.code, 'BLOB_MISSING');
  assert.match(err.message, /missing\.tar.*layer\.tar/);
});

test('a layer whose content does not match its diff_id fails verification naming the layer', async () => {
  const file = path.join(dir, 'corrupt.tar');
  await rewriteTar([classic()], file, (header, data) => {
    if (header.name.endsWith('layer.tar') && header.type === 'file') data[data.length - 2000] ^= 0xff;
    return { header, data };
  });
  const err = await failure(file);
  assert.equal(err.code, 'DIGEST_MISMATCH');
  assert.match(err.message, /layer sha256:/);
});

test('a corrupt blob in an OCI layout archive fails verification', async () => {
  const file = path.join(dir, 'corrupt25.tar');
  await rewriteTar([path.join(fixtures, 'docker25.tar')], file, (header, data) => {
    if (header.name.startsWith('blobs/') && data.length > 100_000) data[100] ^= 0xff;
    return { header, data };
  });
  assert.equal((await failure(file)).code, 'DIGEST_MISMATCH');
});

test('manifest.json that is not a docker manifest list is refused naming it', async () => {
  const file = path.join(dir, 'badjson.tar');
  await craftTar(file, [{ name: 'manifest.json', content: '{"not":"a list"}' }]);
  const err = await failure(file);
  assert.equal(err.code, 'JSON_INVALID');
  assert.match(err.message, /badjson\.tar: manifest\.json/);
});
