/**
 * Timeouts against the real registry behind the fault proxy: a registry that accepts connections
 * and never answers fails within the header timeout; a body that stalls resumes through Range;
 * a body that stalls every time fails with one line naming the blob, the registry and the wait.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { OcitoolError } from '../../src/errors.js';
import { parseReference } from '../../src/oci/reference.js';
import { parseImageDocument, type Descriptor, type Manifest } from '../../src/oci/schemas.js';
import { resolve, timeoutsOf, type RegistrySource } from '../../src/registry/index.js';
import { FaultProxy, UnacceptingPort } from '../helpers/fault-proxy.js';
import { ocitool, removeDir, tempDir } from '../helpers/index.js';
import { startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushSingleLayer, streamVerified } from './fixtures.js';

const FAST_RETRY = { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 100, maxTotalWaitMs: 2_000 };
const ONE_SECOND = timeoutsOf(1);

function oneLine(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof OcitoolError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
}

describe('registry timeouts', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  let ref: string;
  let work: string;
  before(async () => {
    registry = await startRegistry();
    await pushSingleLayer(`${registry.host}/slow:v1`, 24);
    proxy = await FaultProxy.start(registry.port);
    ref = `${proxy.host}/slow:v1`;
    work = await tempDir('ocitool-timeouts-');
  });
  afterEach(() => proxy.clear());
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await removeDir(work);
  });

  async function layer(): Promise<{ source: RegistrySource; desc: Descriptor }> {
    const r = await resolve(parseReference(ref), { retry: FAST_RETRY, timeouts: ONE_SECOND });
    const doc = parseImageDocument(r.raw, undefined, 'manifest');
    return { source: r.source, desc: (doc as { manifest: Manifest }).manifest.layers[0]! };
  }

  test('a registry that accepts the connection and never answers fails with NETWORK naming it', async () => {
    proxy.addFault({ kind: 'hang', match: () => true, times: 100 });
    await assert.rejects(resolve(parseReference(ref), { retry: FAST_RETRY, timeouts: ONE_SECOND }), oneLine('NETWORK', new RegExp(`${proxy.host}.*no response for 1 s`)));
    // Bounded retries, then the failure: not a hang.
    assert.equal(proxy.log.filter((q) => q.path === '/v2/').length, FAST_RETRY.maxAttempts);
  });

  test('a registry whose connections never complete fails with "no connection in"', async () => {
    const port = await UnacceptingPort.start();
    try {
      const timeouts = { connectMs: 500, headersMs: 30_000, idleMs: 30_000 };
      await assert.rejects(resolve(parseReference(`127.0.0.1:${port.port}/x:y`), { retry: FAST_RETRY, timeouts }), oneLine('NETWORK', new RegExp(`127\\.0\\.0\\.1:${port.port}.*no connection in 0\\.5 s`)));
    } finally {
      await port.stop();
    }
  });

  test('a manifest body that stalls fails with "no data for 1 s" naming the manifest', async () => {
    proxy.addFault({ kind: 'stall', match: 'manifest', times: 100 });
    await assert.rejects(resolve(parseReference(ref), { retry: FAST_RETRY, timeouts: ONE_SECOND }), oneLine('NETWORK', /^manifest .*slow:v1 from registry 127\.0\.0\.1:\d+ .*no data for 1 s/));
  });

  test('a blob body that stalls once resumes with Range and verifies', async () => {
    const { source, desc } = await layer();
    proxy.addFault({ kind: 'stall', match: 'blob' });
    assert.equal(await streamVerified(source, desc), desc.size);
    const gets = proxy.log.filter((q) => q.path.endsWith(desc.digest));
    assert.equal(gets.length, 2);
    assert.match(gets[1]!.range ?? '', /^bytes=[1-9]\d*-$/);
  });

  test('a blob body that stalls every time fails naming the blob, the registry and the wait', async () => {
    const { source, desc } = await layer();
    proxy.addFault({ kind: 'stall', match: 'blob', times: 100 });
    await assert.rejects(
      streamVerified(source, desc),
      oneLine('NETWORK', new RegExp(`^blob ${desc.digest} from registry ${proxy.host.replace(/\./g, '\\.')} \\(repository slow\\): no data for 1 s, giving up after 6 tries`)),
    );
  });

  test('pull --timeout 1 against a registry that never answers exits 1 with one line', async () => {
    proxy.addFault({ kind: 'hang', match: () => true, times: 100 });
    const r = await ocitool(['pull', '--timeout', '1', ref], { store: `${work}/store` });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^ocitool: .*no response for 1 s\n$/);
  });

  test('--timeout must be a positive number of seconds (usage error, exit 2)', async () => {
    for (const bad of ['0', '-1', 'soon', '1e9']) {
      const r = await ocitool(['remote', 'arches', '--timeout', bad, ref], { store: `${work}/store` });
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /^ocitool: --timeout must be a number of seconds.*\n$/);
    }
  });
});
