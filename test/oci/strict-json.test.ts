/**
 * Documents are parsed strictly: a key twice in one object, or two keys that Go's encoding/json
 * would read as one field (case variants of known field names), are refused with one line naming
 * the document and the key, because skopeo and containerd would read a different document.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OcitoolError } from '../../src/errors.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, parseImageDocument, parseJson } from '../../src/oci/schemas.js';
import { findDuplicateKey } from '../../src/oci/strict-json.js';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const desc = (c: string, mediaType = 'application/vnd.oci.image.config.v1+json'): string => `{"mediaType":"${mediaType}","digest":"${digest(c)}","size":2}`;

function refused(text: string, schema: Parameters<typeof parseJson>[1], key: RegExp) {
  assert.throws(() => parseJson(Buffer.from(text), schema, 'manifest sha256:abc'), (err: OcitoolError) => {
    assert.ok(err instanceof OcitoolError);
    assert.equal(err.code, 'JSON_INVALID');
    assert.match(err.message, /^manifest sha256:abc: /);
    assert.match(err.message, key);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
}

describe('strict JSON documents', () => {
  test('a manifest with both "config" and "Config" is refused naming both keys', () => {
    const text = `{"schemaVersion":2,"config":${desc('a')},"Config":${desc('b')},"layers":[]}`;
    refused(text, ManifestSchema, /"Config".*"config"|"config".*"Config"/);
    assert.throws(() => parseImageDocument(Buffer.from(text), undefined, 'manifest m'), /differ only in case/);
  });

  test('an exact duplicate key is refused, also when written with escapes', () => {
    refused(`{"schemaVersion":2,"config":${desc('a')},"layers":[],"layers":[${desc('b')}]}`, ManifestSchema, /key "layers" appears twice at the top level/);
    refused(`{"schemaVersion":2,"\\u0063onfig":${desc('a')},"config":${desc('b')},"layers":[]}`, ManifestSchema, /key "config" appears twice/);
  });

  test('a duplicate inside a nested descriptor names where it is', () => {
    const layer = `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"${digest('c')}","size":1,"Size":5}`;
    refused(`{"schemaVersion":2,"config":${desc('a')},"layers":[${desc('d')},${layer}]}`, ManifestSchema, /"Size" and key "size" .* in layers\[1\]/);
  });

  test('an index with two "manifests" keys is refused', () => {
    refused(`{"schemaVersion":2,"manifests":[],"Manifests":[${desc('a', 'application/vnd.oci.image.manifest.v1+json')}]}`, IndexSchema, /"Manifests"/);
  });

  test('a config whose Env appears in two cases is refused; Go folds the long s and the Kelvin sign too', () => {
    const rootfs = `"rootfs":{"type":"layers","diff_ids":[]}`;
    refused(`{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"env":["A=2"]},${rootfs}}`, ImageConfigSchema, /in config/);
    refused(`{"architecture":"amd64","\u017fize":1,"size":2,${rootfs}}`, ImageConfigSchema, /"size"/);
    refused(`{"architecture":"amd64","os":"linux","config":{"\u212Aey":1,"Labels":{},"labels":{}},${rootfs}}`, ImageConfigSchema, /"labels"/);
  });

  test('label and annotation names are compared exactly: case variants there are distinct keys', () => {
    const text = `{"architecture":"amd64","os":"linux","config":{"Labels":{"Maintainer":"a","maintainer":"b"}},"rootfs":{"type":"layers","diff_ids":[]}}`;
    assert.equal(parseJson(Buffer.from(text), ImageConfigSchema, 'config').architecture, 'amd64');
    assert.equal(findDuplicateKey('{"annotations":{"Org.Title":"a","org.title":"b"}}'), undefined);
  });

  test('the same key in different objects, and key-like text inside strings, are fine', () => {
    assert.equal(findDuplicateKey('{"a":{"size":1},"b":{"size":2},"c":[{"size":3},{"size":4}]}'), undefined);
    assert.equal(findDuplicateKey('{"a":"\\\\","b":"\\",\\"a\\":","c":["{\\"a\\":1,\\"a\\":2}"]}'), undefined);
  });

  test('wide objects are checked too (a Set past a few keys)', () => {
    const labels = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`label.${i}`, 'x']));
    const text = JSON.stringify({ Labels: labels }).replace(/}}$/, ',"label.150":"y"}}');
    assert.deepEqual(findDuplicateKey(text), { key: 'label.150', first: 'label.150', path: 'Labels' });
    const cased = JSON.stringify({ ...labels, Env: 1 }).replace(/}$/, ',"ENV":2}');
    assert.deepEqual(findDuplicateKey(cased), { key: 'ENV', first: 'Env', path: '' });
  });
});
