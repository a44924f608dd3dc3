/**
 * The registry client against the real distribution registry: resolving tags and digests, reading
 * manifests and configs, streaming every blob through VerifyingStream, token and basic auth.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VerifyingStream } from '../../src/oci/verify.js';
import { parseReference } from '../../src/oci/reference.js';
import { parseImageDocument, type Descriptor } from '../../src/oci/schemas.js';
import { MediaType } from '../../src/oci/media-types.js';
import { OcitoolError } from '../../src/errors.js';
import { resolve, RegistrySource } from '../../src/registry/index.js';
import { verifyBuffer } from '../../src/oci/verify.js';
import { skopeoRawDigest, startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushMultiLayer, pushSingleLayer, pushTwoPlatformIndex } from './fixtures.js';
import { streamVerified } from './fixtures.js';


/** Resolves an image and verifies its config and every layer; returns the manifest's layers. */
async function pullAll(source: RegistrySource, root: Descriptor, raw: Buffer): Promise<Descriptor[]> {
  const doc = parseImageDocument(raw, root.mediaType, 'root');
  assert.equal(doc.kind, 'manifest');
  if (doc.kind !== 'manifest') return [];
  const config = await source.readBlob(doc.manifest.config);
  verifyBuffer(config, doc.manifest.config, 'config');
  for (const layer of doc.manifest.layers) assert.equal(await streamVerified(source, layer), layer.size);
  return doc.manifest.layers;
}

describe('registry client, anonymous registry', () => {
  let registry: RegistryInstance;
  before(async () => {
    registry = await startRegistry();
    await pushSingleLayer(`${registry.host}/single:v1`);
    await pushMultiLayer(`${registry.host}/multi:v1`);
    await pushSingleLayer(`${registry.host}/zstd:v1`, 5, { compression: 'zstd' });
    await pushTwoPlatformIndex(`${registry.host}/multiarch:v1`);
  });
  after(async () => registry.stop());

  test('resolves a tag to the digest skopeo sees and streams each gzip layer verified', async () => {
    const r = await resolve(parseReference(`${registry.host}/single:v1`));
    assert.equal(r.descriptor.digest, await skopeoRawDigest(`${registry.host}/single:v1`));
    assert.equal(r.descriptor.size, r.raw.length);
    const layers = await pullAll(r.source, r.descriptor, r.raw);
    assert.equal(layers.length, 1);
    assert.equal(layers[0]!.mediaType, MediaType.ociLayerGzip);
  });

  test('resolves by digest and streams a three-layer image', async () => {
    const digest = await skopeoRawDigest(`${registry.host}/multi:v1`);
    const r = await resolve(parseReference(`${registry.host}/multi@${digest}`));
    assert.equal(r.descriptor.digest, digest);
    assert.equal((await pullAll(r.source, r.descriptor, r.raw)).length, 3);
  });

  test('streams zstd layers as the registry stores them', async () => {
    const r = await resolve(parseReference(`${registry.host}/zstd:v1`));
    const layers = await pullAll(r.source, r.descriptor, r.raw);
    assert.equal(layers[0]!.mediaType, MediaType.ociLayerZstd);
  });

  test('resolves a two-platform index and reads each child manifest verified', async () => {
    const r = await resolve(parseReference(`${registry.host}/multiarch:v1`));
    assert.equal(r.descriptor.digest, await skopeoRawDigest(`${registry.host}/multiarch:v1`));
    assert.equal(r.document.kind, 'index');
    if (r.document.kind !== 'index') return;
    const arches = r.document.index.manifests.map((m) => m.platform?.architecture).sort();
    assert.deepEqual(arches, ['amd64', 'arm64']);
    for (const child of r.document.index.manifests) {
      const raw = await r.source.readBlob(child);
      verifyBuffer(raw, child, 'child');
      await pullAll(r.source, child, raw);
    }
  });

  test('an unknown tag is NOT_FOUND naming the registry and repository', async () => {
    await assert.rejects(resolve(parseReference(`${registry.host}/single:nope`)), (err: OcitoolError) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.match(err.message, new RegExp(`${registry.host}.*single`));
      return true;
    });
  });

  test('a wrong digest in the reference fails (registry refuses or bytes mismatch)', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(resolve(parseReference(`${registry.host}/single@${wrong}`)), (err: OcitoolError) => {
      assert.ok(['NOT_FOUND', 'DIGEST_MISMATCH'].includes(err.code), err.code);
      return true;
    });
  });
});

describe('registry client, token auth', () => {
  let registry: RegistryInstance;
  before(async () => {
    registry = await startRegistry({ token: true });
    await pushSingleLayer(`${registry.host}/tok:v1`, 11);
  });
  after(async () => registry.stop());

  test('gets an anonymous bearer token from the challenge and reuses it for the scope', async () => {
    const expected = await skopeoRawDigest(`${registry.host}/tok:v1`);
    const before = registry.tokens!.requests.length;
    const r = await resolve(parseReference(`${registry.host}/tok:v1`));
    assert.equal(r.descriptor.digest, expected);
    await pullAll(r.source, r.descriptor, r.raw);
    await pullAll(r.source, r.descriptor, r.raw);
    // One token for the scope, cached across manifest, config and layer requests.
    assert.deepEqual(registry.tokens!.requests.slice(before), [{ scope: 'repository:tok:pull', withCredentials: false }]);
  });
});

describe('registry client, basic auth', () => {
  let registry: RegistryInstance;
  const creds = { username: 'tester', password: 's3cret-Pa55' };
  before(async () => {
    registry = await startRegistry({ basicAuth: creds });
    await pushSingleLayer(`${registry.host}/private:v1`, 12, { creds: `${creds.username}:${creds.password}` });
  });
  after(async () => registry.stop());

  test('pulls with --creds style credentials', async () => {
    const ref = parseReference(`${registry.host}/private:v1`);
    const r = await resolve(ref, { credentials: creds, env: { HOME: '/nonexistent' } });
    assert.equal(r.descriptor.digest, await skopeoRawDigest(`${registry.host}/private:v1`, ['--creds', `${creds.username}:${creds.password}`]));
    await pullAll(r.source, r.descriptor, r.raw);
  });

  test('without credentials fails with AUTH', async () => {
    await assert.rejects(resolve(parseReference(`${registry.host}/private:v1`), { env: { HOME: '/nonexistent' } }), (err: OcitoolError) => {
      assert.equal(err.code, 'AUTH');
      assert.match(err.message, /no credentials/);
      return true;
    });
  });

  test('bad credentials fail with AUTH and the password appears nowhere', async () => {
    const bad = { username: 'tester', password: 'wrong-Secret-123' };
    await assert.rejects(resolve(parseReference(`${registry.host}/private:v1`), { credentials: bad }), (err: OcitoolError) => {
      assert.equal(err.code, 'AUTH');
      const everything = JSON.stringify({ m: err.message, d: err.details, s: err.stack, c: String(err.cause) });
      assert.ok(!everything.includes(bad.password));
      assert.ok(!everything.includes(Buffer.from(`${bad.username}:${bad.password}`).toString('base64')));
      return true;
    });
  });
});
