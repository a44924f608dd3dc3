/**
 * Error paths through the fault proxy in front of the real registry: each fault either fails
 * cleanly with the right code or is recovered from as specified.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcitoolError } from '../../src/errors.js';
import { MediaType } from '../../src/oci/media-types.js';
import { parseReference } from '../../src/oci/reference.js';
import { parseImageDocument, type Descriptor, type Manifest } from '../../src/oci/schemas.js';
import { VerifyingStream } from '../../src/oci/verify.js';
import { resolve, type RegistrySource } from '../../src/registry/index.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { freePort, startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushSingleLayer } from './fixtures.js';
import { streamVerified } from './fixtures.js';

const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxTotalWaitMs: 5_000 };


function manifestOf(raw: Buffer): Manifest {
  const doc = parseImageDocument(raw, undefined, 'manifest');
  assert.equal(doc.kind, 'manifest');
  return (doc as { manifest: Manifest }).manifest;
}

function expectCode(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof OcitoolError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  };
}

describe('fault proxy in front of the real registry', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  let ref: string;
  before(async () => {
    registry = await startRegistry();
    // A layer of a few hundred KiB, so "half-way" is well inside the body.
    await pushSingleLayer(`${registry.host}/faulty:v1`, 21);
    proxy = await FaultProxy.start(registry.port);
    ref = `${proxy.host}/faulty:v1`;
  });
  afterEach(() => proxy.clear());
  after(async () => {
    await proxy.stop();
    await registry.stop();
  });

  async function layer(): Promise<{ source: RegistrySource; desc: Descriptor }> {
    const r = await resolve(parseReference(ref), { retry: FAST_RETRY });
    return { source: r.source, desc: manifestOf(r.raw).layers[0]! };
  }

  test('a corrupted byte in a layer fails with DIGEST_MISMATCH', async () => {
    const { source, desc } = await layer();
    proxy.addFault({ kind: 'corrupt', match: 'blob' });
    await assert.rejects(streamVerified(source, desc), expectCode('DIGEST_MISMATCH'));
  });

  test('a body cut short fails with SIZE_MISMATCH', async () => {
    const { source, desc } = await layer();
    proxy.addFault({ kind: 'truncate', match: 'blob' });
    await assert.rejects(streamVerified(source, desc), expectCode('SIZE_MISMATCH'));
  });

  test('extra bytes fail with SIZE_MISMATCH', async () => {
    const { source, desc } = await layer();
    proxy.addFault({ kind: 'extra', match: 'blob' });
    await assert.rejects(streamVerified(source, desc), (err: OcitoolError) => {
      assert.equal(err.code, 'SIZE_MISMATCH');
      assert.match(err.message, /more than/);
      return true;
    });
  });

  test('a 429 with Retry-After is waited out and the manifest read', async () => {
    proxy.addFault({ kind: 'rate-limit', match: 'manifest', retryAfterSeconds: 1 });
    const r = await resolve(parseReference(ref), { retry: FAST_RETRY });
    assert.equal(r.descriptor.mediaType, MediaType.ociManifest);
    assert.equal(proxy.log.filter((q) => q.path.includes('/manifests/')).length, 2);
  });

  test('two 503 answers for a blob are retried and the third succeeds', async () => {
    const { source, desc } = await layer();
    proxy.addFault({ kind: 'unavailable', match: 'blob', times: 2 });
    assert.equal(await streamVerified(source, desc), desc.size);
    assert.equal(proxy.blobRequests, 3);
  });

  test('a connection dropped half-way resumes with Range and verifies', async () => {
    const { source, desc } = await layer();
    proxy.addFault({ kind: 'drop', match: 'blob' });
    assert.equal(await streamVerified(source, desc), desc.size);
    const blobGets = proxy.log.filter((q) => q.path.endsWith(desc.digest));
    assert.equal(blobGets.length, 2);
    assert.equal(blobGets[0]!.range, undefined);
    assert.match(blobGets[1]!.range ?? '', /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(blobGets[1]!.range!)![0]) > 0);
  });

  test('a manifest served with the wrong media type fails with MEDIA_TYPE', async () => {
    proxy.addFault({ kind: 'headers', match: 'manifest', headers: { 'content-type': MediaType.ociIndex } });
    await assert.rejects(resolve(parseReference(ref), { retry: FAST_RETRY }), expectCode('MEDIA_TYPE'));
  });

  test('a Docker-Content-Digest that does not match the body fails with DIGEST_MISMATCH', async () => {
    proxy.addFault({ kind: 'headers', match: 'manifest', headers: { 'docker-content-digest': `sha256:${'1'.repeat(64)}` } });
    await assert.rejects(resolve(parseReference(ref), { retry: FAST_RETRY }), expectCode('DIGEST_MISMATCH'));
  });

  test('a Docker-Content-Digest with an unknown algorithm fails with DIGEST_UNSUPPORTED', async () => {
    proxy.addFault({ kind: 'headers', match: 'manifest', headers: { 'docker-content-digest': `md5:${'1'.repeat(32)}` } });
    await assert.rejects(resolve(parseReference(ref), { retry: FAST_RETRY }), expectCode('DIGEST_UNSUPPORTED'));
  });

  test('a corrupted manifest fetched by digest fails with DIGEST_MISMATCH', async () => {
    const r = await resolve(parseReference(ref), { retry: FAST_RETRY });
    proxy.addFault({ kind: 'corrupt', match: 'manifest' });
    await assert.rejects(resolve(parseReference(`${proxy.host}/faulty@${r.descriptor.digest}`), { retry: FAST_RETRY }), expectCode('DIGEST_MISMATCH'));
  });

  test('a registry that is down fails with NETWORK after bounded retries', async () => {
    const port = await freePort();
    await assert.rejects(resolve(parseReference(`127.0.0.1:${port}/x:y`), { retry: FAST_RETRY }), (err: OcitoolError) => {
      assert.equal(err.code, 'NETWORK');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
  });
});

describe('blob redirects', () => {
  const creds = { username: 'redir', password: 'redirect-Secret-9' };
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  before(async () => {
    registry = await startRegistry({ basicAuth: creds });
    await pushSingleLayer(`${registry.host}/redir:v1`, 22, { creds: `${creds.username}:${creds.password}` });
    proxy = await FaultProxy.start(registry.port);
    // The other port reaches the registry with its own access, like a CDN with a signed URL.
    proxy.redirectAuthorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
  });

  test('a blob redirected to another port is fetched without the Authorization header', async () => {
    const r = await resolve(parseReference(`${proxy.host}/redir:v1`), { credentials: creds, retry: FAST_RETRY });
    const desc = manifestOf(r.raw).layers[0]!;
    proxy.addFault({ kind: 'redirect', match: 'blob' });
    assert.equal(await streamVerified(r.source, desc), desc.size);
    const main = proxy.log.filter((q) => q.port === 'main' && q.path.endsWith(desc.digest));
    const other = proxy.log.filter((q) => q.port === 'redirect');
    assert.equal(main.length, 1);
    assert.equal(main[0]!.authorization, true);
    assert.equal(other.length, 1);
    assert.equal(other[0]!.authorization, false);
  });
});

describe('manifest size cap', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  before(async () => {
    registry = await startRegistry();
    await pushSingleLayer(`${registry.host}/big:v1`, 23);
    proxy = await FaultProxy.start(registry.port);
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
  });

  // The real registry (2.8) itself refuses to store manifests over 4 MiB, so the proxy serves one.
  test('a manifest body over 4 MiB fails with JSON_TOO_LARGE without reading it all', async () => {
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, layers: [], annotations: { padding: 'x'.repeat(4 * 1024 * 1024 + 10) } }));
    proxy.addFault({ kind: 'body', match: 'manifest', body: huge });
    await assert.rejects(resolve(parseReference(`${proxy.host}/big:v1`), { retry: FAST_RETRY }), expectCode('JSON_TOO_LARGE'));
  });
});
