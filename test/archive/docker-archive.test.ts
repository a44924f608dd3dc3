/** The docker-save / OCI layout tar reader against archives made by skopeo and by fixtures/make-docker-archives.sh. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { openArchiveSource } from '../../src/archive/docker-archive.js';
import { removeDir, tempDir } from '../helpers/index.js';
import { makeFixtureArchives, makeLayout, mergeDockerArchives, skopeoConfigFacts, skopeoToDockerArchive, walkSource } from './helpers.js';

let dir: string;
let fixtures: string;
let single: string;
let multi: string;
let layoutA: string;

before(async () => {
  dir = await tempDir('ocitool-archive-');
  fixtures = path.join(dir, 'fixtures');
  await makeFixtureArchives(fixtures);
  layoutA = await makeLayout(path.join(dir, 'a'), 1, 'a', { repeatFirstLayer: true });
  const layoutB = await makeLayout(path.join(dir, 'b'), 2, 'b');
  single = path.join(dir, 'single.tar');
  await skopeoToDockerArchive(layoutA, 'a', single, 'example.com/a:1');
  const second = path.join(dir, 'second.tar');
  await skopeoToDockerArchive(layoutB, 'b', second, 'example.com/b:2');
  multi = path.join(dir, 'multi.tar');
  await mergeDockerArchives([single, second], multi);
});

after(async () => {
  await removeDir(dir);
});

test('skopeo docker-archive with a repeated (symlinked) layer reads with the config digest and diff_ids of skopeo oci copy', async () => {
  const source = await openArchiveSource({ file: single }, dir);
  try {
    assert.equal(source.format, 'docker-classic');
    assert.equal(source.images.length, 1);
    assert.deepEqual(source.images[0]!.imageNames, ['example.com/a:1']);
    const walked = await walkSource(source, source.images[0]!.descriptor);
    const skopeo = await skopeoConfigFacts(`docker-archive:${single}`);
    assert.equal(walked.configDigests[0], skopeo.configDigest);
    assert.deepEqual(walked.diffIds[0], skopeo.diffIds);
    assert.equal(walked.layerDigests.length, 3);
    assert.equal(walked.layerDigests[0], walked.layerDigests[2]);
  } finally {
    await source.close();
  }
});

test('a multi-image docker archive lists every image with its RepoTags', async () => {
  const source = await openArchiveSource({ file: multi }, dir);
  try {
    assert.deepEqual(source.images.map((i) => i.imageNames), [['example.com/a:1'], ['example.com/b:2']]);
    const b = await walkSource(source, source.images[1]!.descriptor);
    assert.equal(b.configDigests[0], (await skopeoConfigFacts(`docker-archive:${multi}:example.com/b:2`)).configDigest);
  } finally {
    await source.close();
  }
});

for (const name of ['classic.tar', 'classic.tar.gz', 'classic.tar.xz', 'classic.tar.zst', 'docker25.tar', 'containerd.tar']) {
  test(`fixture ${name} reads, every blob and diff_id verifies, config digest equals skopeo's`, async () => {
    const file = path.join(fixtures, name);
    const source = await openArchiveSource({ file }, dir);
    try {
      assert.equal(source.images.length, 1);
      assert.equal(source.format, name.startsWith('classic') ? 'docker-classic' : 'oci-layout');
      assert.ok(source.images[0]!.imageNames.length === 1, `names: ${source.images[0]!.imageNames}`);
      const walked = await walkSource(source, source.images[0]!.descriptor);
      // skopeo reads containerd.tar's nested index through its manifest.json (docker-archive:).
      // skopeo cannot read a compressed docker archive, so the compressed ones compare with classic.tar.
      const ref = name.startsWith('classic') ? `docker-archive:${path.join(fixtures, 'classic.tar')}`
        : name === 'containerd.tar' ? `docker-archive:${file}` : `oci-archive:${file}:v1`;
      const skopeo = await skopeoConfigFacts(ref);
      assert.equal(walked.configDigests[0], skopeo.configDigest);
      assert.deepEqual(walked.diffIds[0], skopeo.diffIds);
    } finally {
      await source.close();
    }
  });
}

test('an archive piped on stdin (a stream, zstd-compressed) is spooled and read, and the spool is removed on close', async () => {
  const spool = path.join(dir, 'spool');
  await import('node:fs/promises').then((fs) => fs.mkdir(spool));
  const source = await openArchiveSource({ stream: createReadStream(path.join(fixtures, 'classic.tar.zst')), label: 'stdin' }, spool);
  assert.equal((await readdir(spool)).length, 1);
  const walked = await walkSource(source, source.images[0]!.descriptor);
  assert.equal(walked.layerDigests.length, 3);
  await source.close();
  assert.deepEqual(await readdir(spool), []);
});

test('an OCI layout tar from skopeo (oci-archive) reads with its ref name and manifest digest', async () => {
  const file = path.join(dir, 'layout.tar');
  const { mustRun } = await import('../helpers/index.js');
  await mustRun('skopeo', ['copy', '--quiet', `oci:${layoutA}:a`, `oci-archive:${file}:a`]);
  const source = await openArchiveSource({ file }, dir);
  try {
    assert.equal(source.format, 'oci-layout');
    assert.equal(source.images[0]!.refName, 'a');
    const manifestDigest = (await import('node:crypto')).createHash('sha256').update(await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${file}:a`])).digest('hex');
    assert.equal(source.images[0]!.descriptor.digest, `sha256:${manifestDigest}`);
    await walkSource(source, source.images[0]!.descriptor);
  } finally {
    await source.close();
  }
});
