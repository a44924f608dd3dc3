// Choosing the image in a layout: bashbrew `File:` descriptor files, --arch and --platform across
// a two-platform layout (one entry per platform, and a nested image index), and the errors when
// none or several match.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir, cp } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ocitool, removeDir, tempDir } from '../helpers/index.js';
import { sampleRootfs, writeOciLayout, writeRootfsTar } from '../helpers/images.js';

let dir: string;
let multi: string;
let nested: string;
const digests: Record<string, string> = {};

before(async () => {
  dir = await tempDir();
  // Two single-platform layouts merged into one layout with two index.json entries.
  multi = path.join(dir, 'multi');
  const platforms = [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm', variant: 'v5' }];
  const entries = [];
  for (const [i, platform] of platforms.entries()) {
    const tarFile = path.join(dir, `l${i}.tar`);
    await writeRootfsTar(tarFile, sampleRootfs(10 + i, 6));
    const one = path.join(dir, `one${i}`);
    const built = await writeOciLayout(one, [tarFile], 'bullseye', platform);
    await cp(path.join(one, 'blobs'), path.join(multi, 'blobs'), { recursive: true });
    const index = JSON.parse(await readFile(path.join(one, 'index.json'), 'utf8'));
    entries.push(index.manifests[0]);
    digests[`${platform.architecture}${platform.variant ?? ''}`] = built.manifestDigest;
  }
  await writeFile(path.join(multi, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(multi, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: entries }));
  // The same two manifests behind one nested image index, without platform fields in index.json.
  nested = path.join(dir, 'nested');
  await cp(multi, nested, { recursive: true });
  const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries.map(({ annotations: _a, ...e }) => e) }));
  const innerDigest = `sha256:${createHash('sha256').update(inner).digest('hex')}`;
  await writeFile(path.join(nested, 'blobs/sha256', innerDigest.slice(7)), inner);
  await writeFile(path.join(nested, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: innerDigest, size: inner.length, annotations: { 'org.opencontainers.image.ref.name': 'bullseye' } }] }));
});
after(() => removeDir(dir));

test('--arch arm32v5 picks the arm/v5 manifest; amd64 the other', async () => {
  const store = path.join(dir, 's1');
  for (const layout of [multi, nested]) {
    const r = await ocitool(['import-oci', layout, '--arch', 'arm32v5', '--tag', 'debian:bullseye', '-q'], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), digests['armv5']);
    const r2 = await ocitool(['import-oci', layout, '--platform', 'linux/amd64', '--tag', 'debian:bullseye-amd64', '-q'], { store });
    assert.equal(r2.stdout.trim(), digests['amd64']);
  }
});

test('several manifests and no --arch is an error listing them; a platform that is absent too', async () => {
  const store = path.join(dir, 's2');
  const r = await ocitool(['import-oci', multi, '--tag', 'x'], { store });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /2 manifests; choose one with --arch or --platform: linux\/amd64 .*linux\/arm\/v5/);
  const r2 = await ocitool(['import-oci', nested, '--arch', 's390x', '--tag', 'x'], { store });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /no manifest for linux\/s390x/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('--file names a JSON file holding one descriptor (bashbrew File:)', async () => {
  const store = path.join(dir, 's3');
  const index = JSON.parse(await readFile(path.join(multi, 'index.json'), 'utf8'));
  await mkdir(path.join(dir, 'withfile'), { recursive: true });
  await cp(multi, path.join(dir, 'withfile'), { recursive: true });
  await writeFile(path.join(dir, 'withfile', 'arm.json'), JSON.stringify(index.manifests[1]));
  const r = await ocitool(['import-oci', path.join(dir, 'withfile'), '--file', 'arm.json', '--tag', 'debian:arm', '-q'], { store });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), digests['armv5']);
  const r2 = await ocitool(['import-oci', path.join(dir, 'withfile'), '--file', '../etc/passwd', '--tag', 'x'], { store });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /path "\.\.\/etc\/passwd" has a "\.\." component/);
});

test('--arch and --platform together, or an unknown arch, are usage errors (exit 2)', async () => {
  const r = await ocitool(['import-oci', multi, '--arch', 'amd64', '--platform', 'linux/amd64']);
  assert.equal(r.code, 2);
  const r2 = await ocitool(['import-oci', multi, '--arch', 'sparc']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /unknown architecture "sparc"/);
});
