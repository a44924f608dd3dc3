// Partly copied nested indexes (outer index → inner index → manifests) in every command, against
// the real registry: `pull --layout --platform` writes a layout naming only what it holds at every
// level (checked blob by blob here, and with skopeo and umoci); a partial pull into the store
// records a presence tree, passes fsck and gc, and saves; `save` chooses children per image.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mustRun, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { skopeoRawDigest, startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushNestedIndex, pushSingleLayer, pushTwoPlatformIndex, type NestedIndex } from './fixtures.js';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string };
}

/**
 * Checks a layout folder with code of its own (no ocitool code): every blob named from index.json
 * down through every index level is there with its size and digest. Returns the manifests reached.
 */
async function checkLayout(dir: string): Promise<string[]> {
  const manifests: string[] = [];
  const blob = async (d: Desc): Promise<Buffer> => {
    const file = path.join(dir, 'blobs', 'sha256', d.digest.slice(7));
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch {
      throw new Error(`${dir}: blob ${d.digest} (${d.mediaType}) is named but missing`);
    }
    assert.equal(data.length, d.size, `size of ${d.digest}`);
    assert.equal(sha256(data), d.digest);
    return data;
  };
  const visit = async (d: Desc): Promise<void> => {
    const doc = JSON.parse((await blob(d)).toString('utf8'));
    if (INDEX_TYPES.includes(d.mediaType)) {
      for (const child of doc.manifests) await visit(child);
      return;
    }
    manifests.push(d.digest);
    await blob(doc.config);
    for (const layer of doc.layers) await blob(layer);
  };
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  for (const entry of index.manifests) await visit(entry);
  return manifests.sort();
}

async function okRun(args: string[], store?: string): Promise<string> {
  const r = await ocitool(args, store ? { store } : {});
  assert.equal(r.code, 0, `ocitool ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function fsckClean(store: string): Promise<void> {
  const r = await ocitool(['fsck'], { store });
  assert.equal(r.code, 0, `fsck: ${r.stdout}${r.stderr}`);
}

/** The root digests of the images in an OCI layout tar, by ref, as skopeo reads them. */
async function savedRoot(tarFile: string, ref: string): Promise<string> {
  return sha256(Buffer.from(await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${tarFile}:${ref}`])));
}

async function tagFile(store: string): Promise<string> {
  const files = await readdir(path.join(store, 'tags'));
  const file = files.find((f) => decodeURIComponent(f).includes('/nested:v1'));
  assert.ok(file, `no nested tag in ${files.join(', ')}`);
  return path.join(store, 'tags', file);
}

describe('partly copied nested indexes', () => {
  let registry: RegistryInstance;
  let work: string;
  let nested: NestedIndex;
  let ref: string;
  let flatRef: string;
  let singleRef: string;
  before(async () => {
    registry = await startRegistry();
    nested = await pushNestedIndex(registry.host, 'nested', 'v1', 61);
    ref = `${registry.host}/nested:v1`;
    flatRef = `${registry.host}/flat:v1`;
    singleRef = `${registry.host}/single:v1`;
    await pushTwoPlatformIndex(flatRef, 62);
    await pushSingleLayer(singleRef, 63);
    work = await tempDir('ocitool-nested-');
  });
  after(async () => {
    await registry.stop();
    await removeDir(work);
  });

  test('pull --layout --platform linux/arm64 of a nested index writes the one manifest; skopeo copies it, umoci unpacks it', async () => {
    const layout = path.join(work, 'layout-arm64');
    await okRun(['pull', '-q', '--platform', 'linux/arm64', '--layout', layout, ref]);
    assert.deepEqual(await checkLayout(layout), [nested.arm64]);
    assert.equal(sha256(Buffer.from(await mustRun('skopeo', ['inspect', '--raw', `oci:${layout}:v1`]))), nested.arm64);
    await mustRun('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `oci:${path.join(work, 'layout-arm64-copy')}:v1`]);
    await mustRun('umoci', ['unpack', '--rootless', '--image', `${layout}:v1`, path.join(work, 'bundle-arm64')]);
  });

  test('pull --layout of two platforms at two levels rewrites both indexes, naming only blobs the layout holds', async () => {
    const layout = path.join(work, 'layout-two');
    const printed = (await okRun(['pull', '-q', '--platform', 'linux/arm64', '--platform', 'linux/ppc64le', '--layout', layout, ref])).trim();
    assert.deepEqual(await checkLayout(layout), [nested.arm64, nested.ppc64le].sort());
    const rootRaw = await mustRun('skopeo', ['inspect', '--raw', `oci:${layout}:v1`]);
    assert.equal(sha256(Buffer.from(rootRaw)), printed);
    const root = JSON.parse(rootRaw);
    assert.notEqual(printed, nested.outer, 'the outer index was copied in part: rewritten');
    const inner = root.manifests.find((m: Desc) => INDEX_TYPES.includes(m.mediaType));
    assert.ok(inner, rootRaw);
    assert.notEqual(inner.digest, nested.inner, 'the inner index was copied in part: rewritten');
    const innerDoc = JSON.parse(await readFile(path.join(layout, 'blobs', 'sha256', inner.digest.slice(7)), 'utf8'));
    assert.deepEqual(innerDoc.manifests.map((m: Desc) => m.digest), [nested.arm64]);
  });

  test('pull --layout --platform that only the outer index has leaves the inner index out', async () => {
    const layout = path.join(work, 'layout-ppc');
    const printed = (await okRun(['pull', '-q', '--platform', 'linux/ppc64le', '--layout', layout, ref])).trim();
    assert.equal(printed, nested.ppc64le);
    assert.deepEqual(await checkLayout(layout), [nested.ppc64le]);
    await mustRun('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `oci:${path.join(work, 'layout-ppc-copy')}:v1`]);
    const none = await ocitool(['pull', '--platform', 'linux/s390x', '--layout', path.join(work, 'layout-none'), ref]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no manifest for linux\/s390x \(it has: linux\/amd64, linux\/arm64\/v8, linux\/ppc64le\)/);
  });

  test('a partial pull of a nested index into the store: presence tree, fsck and gc clean, save and load back', async () => {
    const store = path.join(work, 'store');
    assert.equal((await okRun(['pull', '-q', '--platform', 'linux/arm64', ref], store)).trim(), nested.outer, 'the store keeps the registry digest');
    await fsckClean(store);
    const tag = JSON.parse(await readFile(await tagFile(store), 'utf8'));
    assert.deepEqual(tag.presentChildren, { [nested.inner]: { [nested.arm64]: true } });
    await okRun(['gc'], store);
    await fsckClean(store);
    const inspect = JSON.parse(await okRun(['inspect', ref], store));
    assert.equal(inspect.partial, true);
    assert.deepEqual(inspect.presentChildren, { [nested.inner]: { [nested.arm64]: true } });
    assert.deepEqual(inspect.manifests.map((m: { digest: string }) => m.digest), [nested.arm64]);

    const tarFile = path.join(work, 'nested.tar');
    const saved = await ocitool(['save', '--oci', ref, '-o', tarFile], { store });
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stderr, /left out linux\/amd64, linux\/ppc64le/);
    assert.equal(await savedRoot(tarFile, 'v1'), nested.arm64);
    const fresh = path.join(work, 'fresh');
    assert.match(await okRun(['load', '--oci', '-i', tarFile], fresh), new RegExp(nested.arm64));
    await fsckClean(fresh);

  });

  test('save of a nested index held at two levels writes both indexes rewritten; load reads it back whole', async () => {
    const store = path.join(work, 'store-two');
    await okRun(['pull', '-q', '--platform', 'linux/arm64', '--platform', 'linux/ppc64le', ref], store);
    await fsckClean(store);
    const tarFile = path.join(work, 'two.tar');
    await okRun(['save', '--oci', ref, '-o', tarFile], store);
    const root = await savedRoot(tarFile, 'v1');
    assert.notEqual(root, nested.outer);
    const fresh = path.join(work, 'fresh-two');
    assert.match(await okRun(['load', '--oci', '-i', tarFile], fresh), new RegExp(root));
    await fsckClean(fresh);
    const loaded = JSON.parse(await okRun(['inspect', ref], fresh));
    assert.equal(loaded.partial, false, 'the rewritten indexes name only what was saved');
    assert.deepEqual(loaded.manifests.map((m: { digest: string }) => m.digest).sort(), [nested.arm64, nested.ppc64le].sort());
  });

  test('a tag file in the old flat format naming a partly held inner index is read: fsck, gc and save work', async () => {
    const store = path.join(work, 'store-old');
    await okRun(['pull', '-q', '--platform', 'linux/arm64', ref], store);
    const file = await tagFile(store);
    const tag = JSON.parse(await readFile(file, 'utf8'));
    // What earlier versions wrote for this pull: the outer index's present children, flat.
    await writeFile(file, JSON.stringify({ ...tag, presentChildren: [nested.inner] }));
    await fsckClean(store);
    await okRun(['gc'], store);
    await fsckClean(store);
    const tarFile = path.join(work, 'old.tar');
    await okRun(['save', '--oci', ref, '-o', tarFile], store);
    assert.equal(await savedRoot(tarFile, 'v1'), nested.arm64);
  });

  test('save of several images chooses children per image', async () => {
    const store = path.join(work, 'store-multi');
    await okRun(['pull', '-q', '--platform', 'linux/arm64', ref], store);
    await okRun(['pull', '-q', '--all-platforms', flatRef], store);
    await okRun(['pull', '-q', singleRef], store);
    const flatDigest = await skopeoRawDigest(flatRef);
    const flatIndex = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${flatRef}`]));
    const flatAmd64 = flatIndex.manifests.find((m: Desc) => m.platform?.architecture === 'amd64').digest;

    // Each image as its tag holds it: the partial one as its one manifest, the whole index unchanged.
    const both = path.join(work, 'both.tar');
    const r = await ocitool(['save', '--oci', '--ref', `${ref}=nested`, '--ref', `${flatRef}=flat`, ref, flatRef, '-o', both], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await savedRoot(both, 'nested'), nested.arm64);
    assert.equal(await savedRoot(both, 'flat'), flatDigest);

    // --platform applies to each image; an index and a single manifest both have amd64.
    const amd = path.join(work, 'amd64.tar');
    await okRun(['save', '--oci', '--platform', 'linux/amd64', '--ref', `${flatRef}=flat`, '--ref', `${singleRef}=single`, flatRef, singleRef, '-o', amd], store);
    assert.equal(await savedRoot(amd, 'flat'), flatAmd64);
    assert.equal(await savedRoot(amd, 'single'), await skopeoRawDigest(singleRef));
    const fresh = path.join(work, 'fresh-amd64');
    await okRun(['load', '--oci', '-i', amd], fresh);
    await fsckClean(fresh);

    // An image without the platform asked for is an error naming it; nothing is written.
    const out = path.join(work, 'none.tar');
    const bad = await ocitool(['save', '--oci', '--platform', 'linux/amd64', '--ref', `${ref}=nested`, flatRef, ref, '-o', out], { store });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, new RegExp(`image ${ref.replace(/[.]/g, '\\.')} has no manifest for linux/amd64 \\(it has: linux/arm64/v8\\)`));
    await assert.rejects(readFile(out));
    const single = await ocitool(['save', '--oci', '--platform', 'linux/arm64', singleRef, '-o', out], { store });
    assert.equal(single.code, 1);
    assert.match(single.stderr, /single:v1 is for linux\/amd64, not linux\/arm64/);
  });
});
