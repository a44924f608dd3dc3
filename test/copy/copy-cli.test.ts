/**
 * `ocitool copy` between the file transports and the store, as a real process: an OCI layout
 * goes to an oci-archive, a docker-archive, the store and back to a layout folder, and skopeo
 * reads each with the source's manifest digest.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { buildImage, imageAFiles, skopeoManifestDigest, type TestImage } from '../helpers/layouts.js';

let work: string;
let image: TestImage;
before(async () => {
  work = await tempDir('ocitool-copy-');
  image = await buildImage(path.join(work, 'src'), 'a', imageAFiles());
});
after(() => removeDir(work));

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

test('oci → oci-archive → store → oci keeps the digest; skopeo reads each', async () => {
  const digest = await skopeoManifestDigest(image.zstd, 'v1');
  const store = path.join(work, 'store');
  const tar = path.join(work, 'img.tar');
  const r1 = await ocitool(['copy', '--quiet', `oci:${image.zstd}:v1`, `oci-archive:${tar}:v1`], { store });
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(lastLine(r1.stdout), digest);
  const raw = await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${tar}:v1`]);
  assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`, digest);
  const r2 = await ocitool(['copy', '--quiet', `oci-archive:${tar}:v1`, 'example.org/copied:v1'], { store });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(lastLine(r2.stdout), digest);
  const out = path.join(work, 'out');
  const r3 = await ocitool(['copy', '--quiet', 'store:example.org/copied:v1', `oci:${out}:again`], { store });
  assert.equal(r3.code, 0, r3.stderr);
  assert.equal(await skopeoManifestDigest(out, 'again'), digest);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
});

test('docker-archive destination: skopeo reads it by name; copy reads it back', async () => {
  const tar = path.join(work, 'docker.tar');
  const r = await ocitool(['copy', '--quiet', `oci:${image.gzip}:v1`, `docker-archive:${tar}:example.org/app:v1`]);
  assert.equal(r.code, 0, r.stderr);
  await mustRun('skopeo', ['inspect', `docker-archive:${tar}:example.org/app:v1`]);
  const out = path.join(work, 'from-docker');
  const back = await ocitool(['copy', '--quiet', `docker-archive:${tar}:example.org/app:v1`, `oci:${out}:v1`]);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(lastLine(back.stdout), lastLine(r.stdout));
});

test('--json: stdout is JSON lines ending in the result event', async () => {
  const out = path.join(work, 'json-out');
  const r = await ocitool(['copy', '--json', `oci:${image.gzip}:v1`, `oci:${out}:v1`]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const result = events.at(-1);
  assert.equal(result.type, 'result');
  assert.equal(result.action, 'copied');
  assert.equal(result.images[0].digest, await skopeoManifestDigest(image.gzip, 'v1'));
});

test('bad transport names and missing images: one line, exit 1 or 2', async () => {
  const store = path.join(work, 'store-bad');
  const missing = await ocitool(['copy', 'store:nothing:here', `oci:${path.join(work, 'x')}`], { store });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr.trim(), /^ocitool: .*nothing:here is not in the store$/);
  const badTag = await ocitool(['copy', `oci:${image.gzip}:nope`, `oci:${path.join(work, 'y')}`], { store });
  assert.equal(badTag.code, 1);
  assert.match(badTag.stderr.trim(), /no image is named nope/);
  const scheme = await ocitool(['copy', 'ftp://x/y', 'z'], { store });
  assert.equal(scheme.code, 2);
});
