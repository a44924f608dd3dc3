// Transport names as skopeo writes them, parsed for `ocitool copy`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTransportName } from '../../src/copy/transport-names.js';
import { OcitoolError } from '../../src/errors.js';

test('each prefix, with and without a tag or name', () => {
  assert.deepEqual(parseTransportName('docker://localhost:5000/a/b:1'), { transport: 'docker', reference: 'localhost:5000/a/b:1' });
  assert.deepEqual(parseTransportName('oci:./dir'), { transport: 'oci', path: './dir' });
  assert.deepEqual(parseTransportName('oci:./dir:v1'), { transport: 'oci', path: './dir', tag: 'v1' });
  assert.deepEqual(parseTransportName('oci-archive:img.tar:v1'), { transport: 'oci-archive', path: 'img.tar', tag: 'v1' });
  // The name after a docker-archive path may hold its own colon (name:tag).
  assert.deepEqual(parseTransportName('docker-archive:img.tar:debian:12'), { transport: 'docker-archive', path: 'img.tar', name: 'debian:12' });
  assert.deepEqual(parseTransportName('store:debian:12'), { transport: 'store', name: 'debian:12' });
  assert.deepEqual(parseTransportName('debian:12'), { transport: 'store', name: 'debian:12' });
  assert.deepEqual(parseTransportName('localhost:5000/a:1'), { transport: 'store', name: 'localhost:5000/a:1' });
});

test('empty parts and unknown schemes are usage errors naming the text', () => {
  for (const text of ['docker://', 'oci:', 'oci:dir:', 'store:', 'docker-archive:', 'ftp://x/y']) {
    assert.throws(() => parseTransportName(text), (err: unknown) => err instanceof OcitoolError && err.code === 'USAGE' && err.message.includes(text), text);
  }
});
