// The model: digests, references (docker's normalization), platforms and bashbrew names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDigest } from '../../src/oci/digest.js';
import { formatReference, parseReference, normalizeTagName, familiarName } from '../../src/oci/reference.js';
import { bashbrewArch, parsePlatform, platformFromArch, platformMatches } from '../../src/oci/platform.js';
import { OcitoolError } from '../../src/errors.js';
import { parseImageDocument } from '../../src/oci/schemas.js';

const hex = 'a'.repeat(64);

test('digests: known algorithms with the right hex length only', () => {
  assert.equal(parseDigest(`sha256:${hex}`), `sha256:${hex}`);
  assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`), `sha512:${'b'.repeat(128)}`);
  for (const bad of [`sha256:${hex.slice(1)}`, `sha256:${hex.toUpperCase()}`, `sha256:../${hex}`, `sha256/${hex}`, 'sha256:', '']) {
    assert.throws(() => parseDigest(bad), (e: unknown) => e instanceof OcitoolError && e.code === 'DIGEST_INVALID', bad);
  }
  assert.throws(() => parseDigest(`md5:${hex}`), (e: unknown) => e instanceof OcitoolError && e.code === 'DIGEST_UNSUPPORTED');
});

test('references normalize like docker', () => {
  const cases: Array<[string, string]> = [
    ['debian', 'docker.io/library/debian:latest'],
    ['debian:bookworm', 'docker.io/library/debian:bookworm'],
    [`library/debian@sha256:${hex}`, `docker.io/library/debian@sha256:${hex}`],
    ['localhost:5000/x/y:tag', 'localhost:5000/x/y:tag'],
    [`registry.example.com:443/a/b@sha256:${hex}`, `registry.example.com:443/a/b@sha256:${hex}`],
    ['index.docker.io/foo/bar', 'docker.io/foo/bar:latest'],
    ['localhost/x', 'localhost/x:latest'],
    ['UPPER/case', 'UPPER/case:latest'], // docker reads an uppercase first part as a registry host
  ];
  for (const [input, want] of cases) assert.equal(formatReference(parseReference(input)), want, input);
  assert.equal(familiarName(parseReference('debian')), 'debian:latest');
  for (const bad of ['Debian', 'a//b', 'a:b:c', ':tag', 'x@sha256:zz']) {
    assert.throws(() => parseReference(bad), (e: unknown) => e instanceof OcitoolError && e.code === 'REFERENCE_INVALID', bad);
  }
  assert.throws(() => normalizeTagName(`debian@sha256:${hex}`));
});

test('platforms and bashbrew architectures', () => {
  assert.deepEqual(platformFromArch('arm32v5'), { os: 'linux', architecture: 'arm', variant: 'v5' });
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' });
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm64' }, platformFromArch('arm64v8')));
  assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, platformFromArch('arm32v7')));
  assert.equal(bashbrewArch({ os: 'linux', architecture: '386' }), 'i386');
  assert.equal(bashbrewArch({ os: 'windows', architecture: 'amd64' }), 'windows-amd64');
  assert.throws(() => platformFromArch('sparc'), /unknown architecture/);
  assert.throws(() => parsePlatform('linux'), /OS\/ARCH/);
});

test('a manifest whose mediaType disagrees with its descriptor is refused', () => {
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
  assert.throws(() => parseImageDocument(index, 'application/vnd.oci.image.manifest.v1+json', 'doc'), (e: unknown) => e instanceof OcitoolError && e.code === 'MEDIA_TYPE');
  assert.equal(parseImageDocument(index, 'application/vnd.oci.image.index.v1+json', 'doc').kind, 'index');
});
