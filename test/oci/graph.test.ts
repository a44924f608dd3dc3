// The image graph walker on its own, over documents held in memory: post-order, platform
// filtering through nested indexes, presence trees (new and old flat form), cycles and depth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mapPresence, mergePresence, presenceOf, walkImage, type WalkOptions } from '../../src/oci/graph.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import type { Digest } from '../../src/oci/digest.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const blobs = new Map<string, Buffer>();
function put(mediaType: string, doc: unknown, extra: Partial<Descriptor> = {}): Descriptor {
  const raw = Buffer.from(JSON.stringify(doc));
  const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}` as Digest;
  blobs.set(digest, raw);
  return { mediaType, digest, size: raw.length, ...extra };
}
function image(arch: string, seed: number): Descriptor {
  const layer = { mediaType: LAYER, digest: `sha256:${String(seed).padStart(64, '0')}` as Digest, size: 10 };
  const diffId = `sha256:${String(seed + 1).padStart(64, '0')}`;
  const config = put(CONFIG, { architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } });
  return put(MANIFEST, { schemaVersion: 2, mediaType: MANIFEST, config, layers: [layer] }, { platform: { os: 'linux', architecture: arch } });
}
const amd64 = image('amd64', 1);
const arm64 = image('arm64', 3);
const ppc = image('ppc64le', 5);
const inner = put(INDEX, { schemaVersion: 2, mediaType: INDEX, manifests: [amd64, arm64] });
const outer = put(INDEX, { schemaVersion: 2, mediaType: INDEX, manifests: [inner, ppc] });

function walker(extra: Partial<WalkOptions<string>> = {}, held?: Set<string>): { options: WalkOptions<string>; order: string[]; absent: string[] } {
  const order: string[] = [];
  const absent: string[] = [];
  const options: WalkOptions<string> = {
    read: async (desc) => (held && !held.has(desc.digest) ? undefined : blobs.get(desc.digest)),
    visitManifest: async (node) => {
      order.push(`m:${node.platform?.architecture}:${node.layers.map((l) => l.diffId?.slice(-1)).join()}`);
      return node.descriptor.digest;
    },
    visitIndex: async (node) => {
      order.push(`i:${node.children.length}/${node.index.manifests.length}${node.whole ? ' whole' : ''}`);
      return node.descriptor.digest;
    },
    absent: (desc, kind, expected) => absent.push(`${kind}:${desc.digest === inner.digest ? 'inner' : desc.digest}:${expected}`),
    ...extra,
  };
  return { options, order, absent };
}

test('visits children before their index, with diff_ids and platforms; a whole walk has presence true', async () => {
  const w = walker();
  const walked = await walkImage(outer, w.options);
  assert.deepEqual(w.order, ['m:amd64:2', 'm:arm64:4', 'i:2/2 whole', 'm:ppc64le:6', 'i:2/2 whole']);
  assert.equal(walked?.presence, true);
  assert.deepEqual(walked?.leftOut, []);
});

test('a platform filter keeps a nested index only for what matches inside it, and gives the presence tree', async () => {
  const w = walker({ platforms: [{ os: 'linux', architecture: 'arm64' }] });
  const walked = await walkImage(outer, w.options);
  assert.deepEqual(w.order, ['m:arm64:4', 'i:1/2', 'i:1/2']);
  assert.deepEqual(walked?.presence, { [inner.digest]: { [arm64.digest]: true } });
  assert.deepEqual(walked?.leftOut.map((d) => d.digest), [amd64.digest, ppc.digest]);
  const none = walker({ platforms: [{ os: 'linux', architecture: 'ppc64le' }] });
  assert.deepEqual((await walkImage(outer, none.options))?.presence, { [ppc.digest]: true }, 'the inner index with no match is left out');
  await assert.rejects(walkImage(outer, walker({ platforms: [{ os: 'linux', architecture: 's390x' }], label: 'image x' }).options), /image x has no manifest for linux\/s390x \(it has: linux\/amd64, linux\/arm64, linux\/ppc64le\)/);
});

test('a presence tree is followed exactly; a child it names that is missing is reported', async () => {
  const held = new Set([outer.digest, inner.digest, arm64.digest, ...[...blobs.keys()].filter((d) => d !== amd64.digest && d !== ppc.digest)]);
  const w = walker({ presence: { [inner.digest]: { [arm64.digest]: true } } }, held);
  const walked = await walkImage(outer, w.options);
  assert.deepEqual(w.order, ['m:arm64:4', 'i:1/2', 'i:1/2']);
  assert.deepEqual(w.absent, []);
  assert.deepEqual(walked?.presence, { [inner.digest]: { [arm64.digest]: true } });
  const wrong = walker({ presence: { [inner.digest]: true } }, held);
  await walkImage(outer, wrong.options);
  assert.deepEqual(wrong.absent, [`manifest:${amd64.digest}:false`]);
});

test('an old flat presence list: below a listed nested index, what is held counts as present', async () => {
  const held = new Set([...blobs.keys()].filter((d) => d !== amd64.digest && d !== ppc.digest));
  const w = walker({ presence: presenceOf([inner.digest]) }, held);
  const walked = await walkImage(outer, w.options);
  assert.deepEqual(w.absent, [`manifest:${amd64.digest}:true`]);
  assert.deepEqual(walked?.presence, { [inner.digest]: { [arm64.digest]: true } });
  assert.equal(presenceOf(undefined), true);
  assert.deepEqual(mergePresence({ [inner.digest]: { [arm64.digest]: true } }, { [inner.digest]: { [amd64.digest]: true }, [ppc.digest]: true }), { [inner.digest]: { [arm64.digest]: true, [amd64.digest]: true }, [ppc.digest]: true });
  assert.deepEqual(mapPresence({ [inner.digest]: { [arm64.digest]: true } }, (d) => (d === arm64.digest ? amd64.digest : d)), { [inner.digest]: { [amd64.digest]: true } });
});

test('cycles and nesting deeper than the limit are refused', async () => {
  // An index cannot name its own digest, but a self-reference by a child descriptor is checked too.
  const selfish = { mediaType: INDEX, digest: outer.digest, size: outer.size };
  blobs.set('sha256:' + 'f'.repeat(64), Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [selfish] })));
  const loop = { mediaType: INDEX, digest: ('sha256:' + 'f'.repeat(64)) as Digest, size: 1 };
  const w = walker();
  w.options.read = async (desc) => (desc.digest === outer.digest ? Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [loop] })) : blobs.get(desc.digest));
  await assert.rejects(walkImage(outer, w.options), /names itself/);
  let deep = amd64;
  for (let i = 0; i < 10; i++) deep = put(INDEX, { schemaVersion: 2, mediaType: INDEX, manifests: [deep], annotations: { n: String(i) } });
  await assert.rejects(walkImage(deep, walker().options), /nested deeper than 8/);
});
