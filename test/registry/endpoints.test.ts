/** Endpoint rules (plain HTTP only for loopback or --plain-http, Docker Hub's API host, mirrors) and a pull through a mirror. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { endpointsFor, isLoopbackHost } from '../../src/registry/endpoints.js';
import { parseChallenges } from '../../src/registry/challenge.js';
import { parseRetryAfter } from '../../src/registry/retry.js';
import { parseReference } from '../../src/oci/reference.js';
import { resolve } from '../../src/registry/index.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry, skopeoRawDigest, type RegistryInstance } from '../helpers/registry.js';
import { pushSingleLayer } from './fixtures.js';

test('plain http is used for loopback hosts only, unless --plain-http', () => {
  for (const host of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) assert.ok(isLoopbackHost(host), host);
  for (const host of ['example.com', '128.0.0.1:5000', 'localhost.example.com', '10.0.0.1']) assert.ok(!isLoopbackHost(host), host);
  assert.equal(endpointsFor('localhost:5000', { env: {} })[0]!.baseUrl, 'http://localhost:5000');
  assert.equal(endpointsFor('registry.example.com:443', { env: {} })[0]!.baseUrl, 'https://registry.example.com:443');
  assert.equal(endpointsFor('registry.example.com', { env: {}, plainHttp: true })[0]!.baseUrl, 'http://registry.example.com');
});

test('Docker Hub is reached at registry-1.docker.io, after DOCKERHUB_PUBLIC_PROXY and --registry-mirror', () => {
  const endpoints = endpointsFor('docker.io', { env: { DOCKERHUB_PUBLIC_PROXY: 'https://proxy.example.com' }, mirrors: ['mirror.example.com'] });
  assert.deepEqual(endpoints.map((e) => [e.baseUrl, e.mirror]), [
    ['https://proxy.example.com', true],
    ['https://mirror.example.com', true],
    ['https://registry-1.docker.io', false],
  ]);
  // Mirrors serve Docker Hub only, as dockerd's registry-mirrors do.
  assert.equal(endpointsFor('quay.io', { env: { DOCKERHUB_PUBLIC_PROXY: 'https://proxy.example.com' } }).length, 1);
  assert.throws(() => endpointsFor('docker.io', { env: {}, mirrors: ['http://mirror.example.com'] }), /plain http/);
});

test('WWW-Authenticate challenges and Retry-After parse as registries send them', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/debian:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString(), Date.now())! > 50_000, true);
  assert.equal(parseRetryAfter('soon'), undefined);
});

describe('Docker Hub images through DOCKERHUB_PUBLIC_PROXY', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  before(async () => {
    registry = await startRegistry();
    await pushSingleLayer(`${registry.host}/library/mirrored:v1`, 51);
    proxy = await FaultProxy.start(registry.port);
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
  });

  test('resolves docker.io/library/mirrored:v1 from the mirror without credentials', async () => {
    const r = await resolve(parseReference('mirrored:v1'), { env: { DOCKERHUB_PUBLIC_PROXY: `http://${proxy.host}`, HOME: '/nonexistent' } });
    assert.equal(r.descriptor.digest, await skopeoRawDigest(`${registry.host}/library/mirrored:v1`));
    assert.ok(proxy.log.some((q) => q.path === '/v2/library/mirrored/manifests/v1'));
    assert.ok(proxy.log.every((q) => !q.authorization));
  });
});
