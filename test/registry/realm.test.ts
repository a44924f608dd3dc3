/**
 * Where the user's credentials may go: token realms over https, or on the registry's own host
 * name when that registry is reached over plain http by choice (loopback, --plain-http); never a
 * realm on another host over plain http, never a redirect target's realm. Token answers are
 * capped. Through the real registry (token auth), the fault proxy and a recording realm.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { OcitoolError } from '../../src/errors.js';
import { parseReference } from '../../src/oci/reference.js';
import { parseImageDocument, type Manifest } from '../../src/oci/schemas.js';
import { resolve } from '../../src/registry/index.js';
import { credentialRefusal } from '../../src/registry/token.js';
import { FaultProxy, RecordingRealm } from '../helpers/fault-proxy.js';
import { startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushSingleLayer, streamVerified } from './fixtures.js';

const FAST_RETRY = { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 100, maxTotalWaitMs: 2_000 };
const creds = { username: 'realm-user', password: 'Realm-Secret-42' };
const noFiles = { HOME: '/nonexistent', XDG_RUNTIME_DIR: '', DOCKER_CONFIG: '/nonexistent' };

function assertNoSecret(err: OcitoolError): void {
  const everything = JSON.stringify({ m: err.message, d: err.details, s: err.stack });
  assert.ok(!everything.includes(creds.password));
  assert.ok(!everything.includes(Buffer.from(`${creds.username}:${creds.password}`).toString('base64')));
}

describe('credentialRefusal: the rule, by host name', () => {
  const at = (registry: string, plainHttp = false) => ({ registryUrl: new URL(registry), plainHttp });
  test('https realms get credentials, wherever they are', () => {
    assert.equal(credentialRefusal(new URL('https://auth.docker.io/token'), at('https://registry-1.docker.io')), undefined);
  });
  test('a plain-http realm on the loopback registry\'s own host name gets them (any port)', () => {
    assert.equal(credentialRefusal(new URL('http://127.0.0.1:9999/token'), at('http://127.0.0.1:5000')), undefined);
    assert.equal(credentialRefusal(new URL('http://localhost/token'), at('http://localhost:5000')), undefined);
  });
  test('a plain-http realm on the registry host with --plain-http gets them', () => {
    assert.equal(credentialRefusal(new URL('http://reg.lan:5001/token'), at('http://reg.lan:5000', true)), undefined);
  });
  test('a plain-http realm on another host name never does, loopback or not, --plain-http or not', () => {
    assert.match(credentialRefusal(new URL('http://localhost:9999/token'), at('http://127.0.0.1:5000'))!, /localhost:9999 is plain http on another host than registry 127\.0\.0\.1:5000/);
    assert.ok(credentialRefusal(new URL('http://auth.lan/token'), at('http://reg.lan:5000', true)));
  });
  test('a plain-http realm for an https registry on the same host does not', () => {
    assert.match(credentialRefusal(new URL('http://reg.example/token'), at('https://reg.example'))!, /plain http and registry reg\.example is not/);
  });
});

describe('token realms of the real registry', () => {
  let registry: RegistryInstance;
  before(async () => {
    registry = await startRegistry({ token: true });
    await pushSingleLayer(`${registry.host}/tok:v1`, 25);
  });
  after(async () => registry.stop());

  test('credentials go to the plain-http realm on the loopback registry\'s host name', async () => {
    const before = registry.tokens!.requests.length;
    await resolve(parseReference(`${registry.host}/tok:v1`), { credentials: creds, env: noFiles });
    assert.deepEqual(registry.tokens!.requests.slice(before).map((r) => r.withCredentials), [true]);
  });

  test('addressed as localhost, the realm on 127.0.0.1 is another host: asked anonymously', async () => {
    const before = registry.tokens!.requests.length;
    const r = await resolve(parseReference(`localhost:${registry.port}/tok:v1`), { credentials: creds, env: noFiles });
    assert.equal(r.document.kind, 'manifest');
    const asked = registry.tokens!.requests.slice(before);
    assert.ok(asked.length >= 1);
    assert.ok(asked.every((q) => !q.withCredentials), JSON.stringify(asked));
  });
});

describe('hostile realms and redirect targets', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  let realm: RecordingRealm;
  before(async () => {
    registry = await startRegistry();
    await pushSingleLayer(`${registry.host}/open:v1`, 26);
    proxy = await FaultProxy.start(registry.port);
    realm = await RecordingRealm.start();
  });
  afterEach(() => {
    proxy.clear();
    proxy.redirectChallenge = undefined;
    realm.requests.length = 0;
    realm.requireAuth = false;
    realm.endlessBytes = undefined;
  });
  after(async () => {
    await proxy.stop();
    await realm.stop();
    await registry.stop();
  });

  /** The proxy's /v2/ probe answers 401 with a bearer challenge naming `realmUrl`. */
  function challengeWith(realmUrl: string): void {
    proxy.addFault({ kind: 'headers', match: (p) => p === '/v2/', status: 401, times: 10, headers: { 'www-authenticate': `Bearer realm="${realmUrl}",service="proxy"` } });
  }

  test('a plain-http realm on another host gets no credentials, and the refusal names it', async () => {
    realm.requireAuth = true;
    challengeWith(realm.url('localhost'));
    await assert.rejects(resolve(parseReference(`${proxy.host}/open:v1`), { credentials: creds, env: noFiles, retry: FAST_RETRY }), (err: OcitoolError) => {
      assert.equal(err.code, 'AUTH');
      assert.match(err.message, new RegExp(`token service localhost:${realm.port}: anonymous access refused .*credentials not sent: token realm localhost:${realm.port} is plain http on another host`));
      assert.doesNotMatch(err.message, /\n/);
      assertNoSecret(err);
      return true;
    });
    assert.ok(realm.requests.length >= 1);
    assert.ok(realm.requests.every((q) => q.authorization === undefined), JSON.stringify(realm.requests));
  });

  test('a 401 from a redirect target with its own realm is not answered with the user\'s credentials', async () => {
    const r = await resolve(parseReference(`${proxy.host}/open:v1`), { credentials: creds, env: noFiles, retry: FAST_RETRY });
    const desc = (parseImageDocument(r.raw, undefined, 'manifest') as { manifest: Manifest }).manifest.layers[0]!;
    proxy.redirectChallenge = `Bearer realm="${realm.url()}",service="cdn"`;
    proxy.addFault({ kind: 'redirect', match: 'blob' });
    await assert.rejects(streamVerified(r.source, desc), (err: OcitoolError) => {
      assert.equal(err.code, 'AUTH');
      assert.match(err.message, new RegExp(`^blob ${desc.digest} from registry ${proxy.host.replace(/\./g, '\\.')} .*HTTP 401 from 127\\.0\\.0\\.1:${proxy.redirectPort}`));
      assertNoSecret(err);
      return true;
    });
    assert.deepEqual(realm.requests, []);
    assert.ok(proxy.log.filter((q) => q.port === 'redirect').every((q) => !q.authorization));
  });

  test('a registry refusing the token names the realm it came from', async () => {
    const challenge = `Bearer realm="${realm.url()}",service="proxy"`;
    proxy.addFault({ kind: 'headers', match: 'manifest', status: 401, times: 10, headers: { 'www-authenticate': challenge } });
    await assert.rejects(resolve(parseReference(`${proxy.host}/open:v1`), { credentials: creds, env: noFiles, retry: FAST_RETRY }), (err: OcitoolError) => {
      assert.equal(err.code, 'AUTH');
      assert.match(err.message, new RegExp(`HTTP 401 \\(token for your credentials, from token realm 127\\.0\\.0\\.1:${realm.port}\\)`));
      assertNoSecret(err);
      return true;
    });
    // Same host name, loopback registry: the realm was entitled to the credentials.
    assert.ok(realm.requests.length >= 1 && realm.requests.every((q) => q.authorization?.startsWith('Basic ')));
  });

  test('an endless token answer is cut at the cap: one line, and memory stays small', async () => {
    realm.endlessBytes = 1024 * 1024 * 1024;
    challengeWith(realm.url());
    const rssBefore = process.resourceUsage().maxRSS;
    await assert.rejects(resolve(parseReference(`${proxy.host}/open:v1`), { retry: FAST_RETRY }), (err: OcitoolError) => {
      assert.equal(err.code, 'AUTH');
      assert.match(err.message, new RegExp(`token service 127\\.0\\.0\\.1:${realm.port}: answer is over the 262144-byte limit for tokens`));
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    // The client hung up long before the realm was done (it would have sent 1 GiB).
    assert.ok(realm.endlessWritten < 64 * 1024 * 1024, `realm wrote ${realm.endlessWritten} bytes`);
    const grewKiB = process.resourceUsage().maxRSS - rssBefore;
    assert.ok(grewKiB < 128 * 1024, `peak RSS grew by ${grewKiB} KiB`);
  });
});
