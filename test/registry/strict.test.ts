/**
 * The manifest-confusion class: a registry (the real one accepts these) serving a manifest with
 * both "config" and "Config", a config with a key twice, or an index with "manifests" in two
 * cases. skopeo (Go, case-insensitive field names, last key wins) reads another document than
 * JSON.parse would, so ocitool refuses them with one line naming the document and the key.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OcitoolError } from '../../src/errors.js';
import { parseReference } from '../../src/oci/reference.js';
import { resolve } from '../../src/registry/index.js';
import { exists } from '../../src/util/fs.js';
import { listFiles, mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushTwoPlatformIndex } from './fixtures.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

describe('documents with duplicate or case-variant keys from a registry', () => {
  let registry: RegistryInstance;
  let work: string;
  let amd64: { config: Desc; layers: Desc[] };
  let arm64: { config: Desc; layers: Desc[] };
  let manifests: Desc[];

  async function getJson(p: string, accept: string): Promise<any> {
    const res = await fetch(`http://${registry.host}/v2/two/${p}`, { headers: { accept } });
    assert.equal(res.status, 200);
    return res.json();
  }

  async function putManifest(tag: string, text: string, mediaType: string): Promise<void> {
    const res = await fetch(`http://${registry.host}/v2/two/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: text });
    assert.equal(res.status, 201, await res.text());
  }

  async function putBlob(data: Buffer): Promise<Desc> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const start = await fetch(`http://${registry.host}/v2/two/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location')!, `http://${registry.host}`);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(data) });
    assert.equal(put.status, 201, await put.text());
    return { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: data.length };
  }

  before(async () => {
    registry = await startRegistry();
    work = await tempDir('ocitool-strict-');
    await pushTwoPlatformIndex(`${registry.host}/two:v1`, 27);
    const index = await getJson('manifests/v1', OCI_INDEX);
    manifests = index.manifests;
    [amd64, arm64] = await Promise.all(manifests.map((m) => getJson(`manifests/${m.digest}`, m.mediaType)));
    // "config" names the arm64 config, "Config" (later) the amd64 one: Go reads the last.
    const confused = `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(arm64.config)},"Config":${JSON.stringify(amd64.config)},"layers":${JSON.stringify(amd64.layers)}}`;
    await putManifest('confused', confused, OCI_MANIFEST);
    const indexText = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":${JSON.stringify([manifests[0]])},"Manifests":${JSON.stringify([manifests[1]])}}`;
    await putManifest('confused-index', indexText, OCI_INDEX);
  });
  after(async () => {
    await registry.stop();
    await removeDir(work);
  });

  test('skopeo reads the amd64 config where "config" names arm64: the documents differ', async () => {
    const config = JSON.parse(await mustRun('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${registry.host}/two:confused`]));
    assert.equal(config.architecture, 'amd64');
    assert.notEqual(arm64.config.digest, amd64.config.digest);
  });

  test('resolve refuses the manifest naming it and both keys', async () => {
    await assert.rejects(resolve(parseReference(`${registry.host}/two:confused`)), (err: OcitoolError) => {
      assert.equal(err.code, 'JSON_INVALID');
      assert.match(err.message, /^manifest 127\.0\.0\.1:\d+\/two:confused from registry .*: key "Config" and key "config" differ only in case at the top level/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });

  test('pull refuses it with one line and leaves the store without the tag', async () => {
    const store = path.join(work, 'store');
    const r = await ocitool(['pull', '--platform', 'linux/amd64', `${registry.host}/two:confused`], { store });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ocitool: manifest .*two:confused.*"Config".*\n$/);
    const files = (await exists(store)) ? await listFiles(store) : [];
    assert.equal(files.filter((f) => f.startsWith('tags/')).length, 0);
  });

  test('an index with "manifests" and "Manifests" is refused naming the key', async () => {
    await assert.rejects(resolve(parseReference(`${registry.host}/two:confused-index`)), (err: OcitoolError) => {
      assert.equal(err.code, 'JSON_INVALID');
      assert.match(err.message, /two:confused-index.*key "Manifests" and key "manifests" differ only in case/);
      return true;
    });
  });

  test('a config with "architecture" twice is refused when pulled', async () => {
    const original = await (await fetch(`http://${registry.host}/v2/two/blobs/${amd64.config.digest}`)).text();
    const doubled = Buffer.from(original.replace(/^\{/, '{"architecture":"arm64",'));
    const config = await putBlob(doubled);
    await putManifest('double-arch', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: amd64.layers }), OCI_MANIFEST);
    const r = await ocitool(['pull', `${registry.host}/two:double-arch`], { store: path.join(work, 'store2') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^ocitool: .*config ${config.digest}.*key "architecture" appears twice at the top level.*\\n$`));
  });
});
