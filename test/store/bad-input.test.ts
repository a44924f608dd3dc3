// Bad layouts: each gives one line naming the file and the cause, exit 1, and the store keeps
// exactly the files (objects, links, tags) it had.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, rm, appendFile, truncate, readdir } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { buildImage, copyLayout, imageAFiles, imageBFiles, type TestImage } from '../helpers/layouts.js';
import { writeRootfsTar } from '../helpers/images.js';

let dir: string;
let store: string;
let good: TestImage;
let other: TestImage;
let n = 0;

before(async () => {
  dir = await tempDir();
  good = await buildImage(dir, 'good', imageAFiles());
  other = await buildImage(dir, 'other', imageBFiles());
  store = path.join(dir, 'store');
  const r = await ocitool(['import-oci', other.gzip, '--tag', 'kept:1'], { store });
  assert.equal(r.code, 0, r.stderr);
});
after(() => removeDir(dir));

async function layerFile(layout: string, largest = true): Promise<string> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const layers = [...manifest.layers].sort((x: { size: number }, y: { size: number }) => (largest ? y.size - x.size : x.size - y.size));
  return path.join(layout, 'blobs/sha256', layers[0].digest.slice(7));
}

async function manifestFile(layout: string): Promise<string> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  return path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7));
}

/** Damages a fresh copy of the good layout, imports it, and checks the failure and the store. */
async function expectFailure(damage: (layout: string) => Promise<void>, pattern: RegExp, input?: (layout: string) => Promise<string>): Promise<void> {
  const layout = await copyLayout(good.gzip, path.join(dir, `bad-${n++}`));
  await damage(layout);
  const before = await listFiles(store);
  const r = await ocitool(['import-oci', input ? await input(layout) : layout, '--tag', 'bad:1'], { store });
  assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
  // Progress lines may come first; the failure itself is exactly one line, the last.
  const lines = r.stderr.trim().split('\n');
  const errors = lines.filter((l) => l.startsWith('ocitool:'));
  assert.equal(errors.length, 1, `one error line: ${r.stderr}`);
  assert.equal(lines[lines.length - 1], errors[0]);
  assert.match(errors[0]!, pattern);
  assert.deepEqual(await listFiles(store), before, 'store unchanged');
}

test('a layer with one flipped byte', () => expectFailure(async (l) => {
  const f = await layerFile(l);
  const data = await readFile(f);
  data[Math.floor(data.length / 2)] ^= 0x01;
  await writeFile(f, data);
}, /layer sha256:[0-9a-f]{64} from oci layout .*: digest mismatch: expected sha256:.*, got sha256:/));

test('a truncated layer', () => expectFailure(async (l) => {
  const f = await layerFile(l);
  await truncate(f, 1000);
}, /layer sha256:.*size mismatch: expected \d+ bytes, got 1000/));

test('a layer with extra bytes', () => expectFailure(async (l) => appendFile(await layerFile(l), 'extra'), /layer sha256:.*size mismatch: more than the expected \d+ bytes/));

test('a missing layer blob', () => expectFailure(async (l) => rm(await layerFile(l, false)), /blobs\/sha256\/[0-9a-f]{64} is missing/));

test('a manifest digest with an unknown algorithm', () => expectFailure(async (l) => {
  const index = JSON.parse(await readFile(path.join(l, 'index.json'), 'utf8'));
  index.manifests[0].digest = index.manifests[0].digest.replace('sha256:', 'sha1:');
  await writeFile(path.join(l, 'index.json'), JSON.stringify(index));
}, /index\.json: manifests\.0\.digest: unsupported digest algorithm "sha1"/));

for (const evil of ['sha256:../../../../etc/passwd', 'sha256:abc/def']) {
  test(`a digest containing a path (${evil})`, () => expectFailure(async (l) => {
    const index = JSON.parse(await readFile(path.join(l, 'index.json'), 'utf8'));
    index.manifests[0].digest = evil;
    await writeFile(path.join(l, 'index.json'), JSON.stringify(index));
  }, /index\.json: manifests\.0\.digest: invalid digest/));
}

test('an oci-layout with another version', () => expectFailure(async (l) => writeFile(path.join(l, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}'), /oci-layout has imageLayoutVersion 2\.0\.0/));

test('an index with no manifest', () => expectFailure(async (l) => writeFile(path.join(l, 'index.json'), '{"schemaVersion":2,"manifests":[]}'), /index lists no manifest/));

test('invalid JSON in index.json and in a manifest', async () => {
  await expectFailure(async (l) => writeFile(path.join(l, 'index.json'), '{"schemaVersion":2,'), /index\.json: invalid JSON/);
  await expectFailure(async (l) => {
    // A manifest that is not JSON but whose descriptor matches it: digest and size are right.
    const { createHash } = await import('node:crypto');
    const body = Buffer.from('this is not json');
    const digest = createHash('sha256').update(body).digest('hex');
    await writeFile(path.join(l, 'blobs/sha256', digest), body);
    const index = JSON.parse(await readFile(path.join(l, 'index.json'), 'utf8'));
    index.manifests[0].digest = `sha256:${digest}`;
    index.manifests[0].size = body.length;
    await writeFile(path.join(l, 'index.json'), JSON.stringify(index));
  }, /manifest sha256:[0-9a-f]{64}: invalid JSON/);
});

test('a manifest whose content does not match its digest', () => expectFailure(async (l) => {
  const f = await manifestFile(l);
  const text = (await readFile(f, 'utf8')).replace('"schemaVersion":2', '"schemaVersion": 2');
  await writeFile(f, text);
}, /manifest sha256:.*size mismatch|manifest sha256:.*digest mismatch/));

test('a layout tar with a ".." entry or an absolute path', async () => {
  for (const [name, pattern] of [['../evil', /path "\.\.\/evil" has a "\.\." component/], ['/etc/evil', /absolute path "\/etc\/evil" is not allowed/]] as const) {
    await expectFailure(async () => {}, pattern, async (l) => {
      const tarFile = path.join(dir, `evil-${n++}.tar`);
      const entries = await readdir(l);
      // GNU tar keeps names as given with -P and --transform; write one extra evil entry.
      await writeRootfsTar(path.join(dir, 'evil-only.tar'), [{ name, content: 'x' }]);
      await mustRun('tar', ['-C', l, '-cf', tarFile, ...entries]);
      const evil = await readFile(path.join(dir, 'evil-only.tar'));
      const base = await readFile(tarFile);
      // Put the evil entry first: strip the 1024-byte end marker from it and prepend.
      await writeFile(tarFile, Buffer.concat([evil.subarray(0, evil.length - 1024).subarray(0, 1024), base]));
      return tarFile;
    });
  }
});

test('a truncated layout tar', () => expectFailure(async () => {}, /truncated tar/, async (l) => {
  const tarFile = path.join(dir, `trunc-${n++}.tar`);
  await mustRun('tar', ['-C', l, '-cf', tarFile, 'oci-layout', 'index.json', 'blobs']);
  const data = await readFile(tarFile);
  await writeFile(tarFile, data.subarray(0, Math.floor(data.length * 0.6)));
  return tarFile;
}));

test('a layout that does not exist, and one without oci-layout', async () => {
  await expectFailure(async (l) => rm(path.join(l, 'oci-layout')), /not an OCI image layout \(no oci-layout file\)/);
  const r = await ocitool(['import-oci', path.join(dir, 'nowhere'), '--tag', 'x'], { store });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nowhere: no such file or folder/);
});

test('a layer whose content does not match the config diff_id', () => expectFailure(async (l) => {
  // Rewrite the config with a wrong diff_id and re-point the manifest and index at it.
  const { createHash } = await import('node:crypto');
  const put = async (data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(path.join(l, 'blobs/sha256', hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const mf = await manifestFile(l);
  const manifest = JSON.parse(await readFile(mf, 'utf8'));
  const config = JSON.parse(await readFile(path.join(l, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'));
  config.rootfs.diff_ids[0] = `sha256:${'0'.repeat(64)}`;
  Object.assign(manifest.config, await put(Buffer.from(JSON.stringify(config))));
  const m = await put(Buffer.from(JSON.stringify(manifest)));
  const index = JSON.parse(await readFile(path.join(l, 'index.json'), 'utf8'));
  Object.assign(index.manifests[0], m);
  await writeFile(path.join(l, 'index.json'), JSON.stringify(index));
}, /layer sha256:.*: uncompressed content has digest sha256:.*, but the config's diff_ids says sha256:0{64}/));

test('a layer with a media type that is not a tar we can read', () => expectFailure(async (l) => {
  const { createHash } = await import('node:crypto');
  const mf = await manifestFile(l);
  const manifest = JSON.parse(await readFile(mf, 'utf8'));
  manifest.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+bzip2';
  const body = Buffer.from(JSON.stringify(manifest));
  const hex = createHash('sha256').update(body).digest('hex');
  await writeFile(path.join(l, 'blobs/sha256', hex), body);
  const index = JSON.parse(await readFile(path.join(l, 'index.json'), 'utf8'));
  Object.assign(index.manifests[0], { digest: `sha256:${hex}`, size: body.length });
  await writeFile(path.join(l, 'index.json'), JSON.stringify(index));
}, /manifest sha256:[0-9a-f]{64}: layer sha256:[0-9a-f]{64} has unsupported media type application\/vnd\.oci\.image\.layer\.v1\.tar\+bzip2/));

test('load refuses a layout tar with another oci-layout version, as import-oci does', async () => {
  const layout = await copyLayout(good.gzip, path.join(dir, `bad-${n++}`));
  await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
  const tarFile = path.join(dir, `v2-${n++}.tar`);
  await mustRun('tar', ['-C', layout, '-cf', tarFile, 'oci-layout', 'index.json', 'blobs']);
  const before = await listFiles(store);
  const r = await ocitool(['load', '--oci', '--name', 'v2', '-i', tarFile], { store });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^ocitool: .*oci-layout has imageLayoutVersion 2\.0\.0/m);
  assert.deepEqual(await listFiles(store), before);
});
