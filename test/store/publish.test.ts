// Publish per verified blob: with keepVerified (pull), the objects split out of a layer become
// visible only once that layer passed its checks. A layer whose last bytes are corrupted (through
// the fault proxy in front of the real registry) leaves none of its objects in objects/, while
// the layers verified in the same pull stay, so the next pull fetches only the bad one.
import assert from 'node:assert/strict';
import { readFile, writeFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, afterEach, before, describe, test } from 'node:test';
import { copyImages } from '../../src/copy/engine.js';
import { OcitoolError } from '../../src/errors.js';
import { parseReference } from '../../src/oci/reference.js';
import { parseImageDocument, type Manifest } from '../../src/oci/schemas.js';
import { resolve } from '../../src/registry/index.js';
import { linkedObject as linkTarget } from '../../src/store/links.js';
import { StoreSink } from '../../src/store/sink.js';
import { Store } from '../../src/store/store.js';
import { exists } from '../../src/util/fs.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { listFiles, ocitool, removeDir, tempDir } from '../helpers/index.js';
import { startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { pushMultiLayer } from '../registry/fixtures.js';

const BLOB_GET = /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})$/;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function objectSet(store: string): Promise<Set<string>> {
  return new Set((await listFiles(path.join(store, 'objects'))).map((f) => f.replace('/', '')));
}

describe('publish per verified blob', () => {
  let registry: RegistryInstance;
  let proxy: FaultProxy;
  let work: string;
  before(async () => {
    registry = await startRegistry();
    await pushMultiLayer(`${registry.host}/multi:v1`, 41);
    proxy = await FaultProxy.start(registry.port);
    work = await tempDir('ocitool-publish-');
  });
  afterEach(() => proxy.clear());
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await removeDir(work);
  });

  test('a layer with corrupted last bytes leaves none of its objects; layers verified in the same pull stay and are not fetched again', async () => {
    const ref = `${proxy.host}/multi:v1`;
    const resolved = await resolve(parseReference(ref));
    const doc = parseImageDocument(resolved.raw, resolved.descriptor.mediaType, 'manifest');
    assert.equal(doc.kind, 'manifest');
    const manifest = (doc as { manifest: Manifest }).manifest;
    const bad = [...manifest.layers].sort((x, y) => y.size - x.size)[0]!;
    const good = manifest.layers.filter((l) => l.digest !== bad.digest);

    // What the bad layer splits into, from a clean copy into another store.
    const clean = await Store.open(path.join(work, 'clean'));
    const cleanSink = await StoreSink.create(clean);
    await copyImages(resolved.source, cleanSink, [{ descriptor: resolved.descriptor, names: [] }]);
    const badBlobId = await linkTarget(clean.paths.blob(bad.digest));
    const badImport = cleanSink.layers.find((l) => l.blobId === badBlobId)!;
    const badObjects = new Set([...badImport.fileObjects, badImport.splitId, badImport.blobId]);
    for (const other of cleanSink.layers) if (other !== badImport) for (const id of [...other.fileObjects, other.splitId, other.blobId]) badObjects.delete(id);
    assert.ok(badImport.fileObjects.size >= 5, `the bad layer has several file objects (${badImport.fileObjects.size})`);

    // The registry serves the bad layer with its last byte flipped: every file in it streams past
    // before the digest (and gzip trailer) check fails.
    const original = await readAll(await resolved.source.openBlob(bad));
    const corrupted = Buffer.from(original);
    corrupted[corrupted.length - 1] = corrupted[corrupted.length - 1]! ^ 0xff;
    proxy.addFault({ kind: 'body', match: (p) => p.endsWith(bad.digest), body: corrupted });

    const storeDir = path.join(work, 'store');
    const store = await Store.open(storeDir);
    const before = await objectSet(storeDir);
    const sink = await StoreSink.create(store, { keepVerified: true });
    // The good layers finish only after the bad one failed, so a publish that took everything
    // staged would take the bad layer's objects with them.
    let badDone!: () => void;
    const badFailed = new Promise<void>((r) => (badDone = r));
    const write = sink.writeBlob.bind(sink);
    sink.writeBlob = async (desc, data, info) => {
      if (desc.digest !== bad.digest) await badFailed;
      try {
        await write(desc, data, info);
      } finally {
        if (desc.digest === bad.digest) badDone();
      }
    };
    const source = (await resolve(parseReference(ref))).source;
    await assert.rejects(copyImages(source, sink, [{ descriptor: resolved.descriptor, names: ['multi'] }]), (err: unknown) => {
      assert.ok(err instanceof OcitoolError, String(err));
      assert.match(err.message, new RegExp(bad.digest));
      return true;
    });

    const afterFail = await objectSet(storeDir);
    const planted = [...badObjects].filter((id) => afterFail.has(id) && !before.has(id));
    assert.deepEqual(planted, [], 'no object of the failed layer is in objects/');
    for (const layer of good) assert.ok(await exists(store.paths.blob(layer.digest)), `verified layer ${layer.digest} stays`);
    assert.ok(await exists(store.paths.blob(manifest.config.digest)), 'the config stays');
    assert.equal(await store.readTag('multi'), undefined, 'nothing is tagged');

    // The rerun fetches only the bad layer, then the store is whole.
    proxy.clear();
    const rerun = await ocitool(['pull', ref], { store: storeDir });
    assert.equal(rerun.code, 0, rerun.stderr);
    const fetched = proxy.log.map((r) => BLOB_GET.exec(r.path)?.[1]).filter((d) => d !== undefined);
    assert.deepEqual(fetched, [bad.digest]);
    const fsck = await ocitool(['fsck'], { store: storeDir });
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  });

  test('a re-pull replaces a damaged manifest and config', async () => {
    const ref = `${proxy.host}/multi:v1`;
    const storeDir = path.join(work, 'repull');
    assert.equal((await ocitool(['pull', ref], { store: storeDir })).code, 0);
    const resolved = await resolve(parseReference(ref));
    const manifest = (parseImageDocument(resolved.raw, resolved.descriptor.mediaType, 'manifest') as { manifest: Manifest }).manifest;
    for (const digest of [resolved.descriptor.digest, manifest.config.digest]) {
      const file = await realpath(path.join(storeDir, 'blobs', 'sha256', digest.slice(7)));
      const data = await readFile(file);
      data[3] = data[3]! ^ 0xff;
      await writeFile(file, data);
    }
    assert.equal((await ocitool(['fsck'], { store: storeDir })).code, 1);
    proxy.clear();
    const r = await ocitool(['pull', ref], { store: storeDir });
    assert.equal(r.code, 0, r.stderr);
    const fetched = proxy.log.map((l) => BLOB_GET.exec(l.path)?.[1]).filter((d) => d !== undefined);
    assert.deepEqual(fetched, [manifest.config.digest], 'only the damaged config is fetched again, no layer');
    const fsck = await ocitool(['fsck'], { store: storeDir });
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  });
});
