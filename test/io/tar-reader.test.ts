// One tar reader (issue 7, defect 8): a PAX `size` record applies when the ustar size field is 0
// (Go's archive/tar writes that for files over 8 GiB), in plain and compressed layout tars alike;
// GNU long names and PAX global headers are read; layers with no end-of-archive blocks (umoci 0.4.7
// `insert`) are accepted as Go accepts them and still reassemble byte for byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import { mustRun, ocitool, removeDir, tempDir, listFiles } from '../helpers/index.js';
import { patternBytes, writeOciLayout, writeRootfsTar, sampleRootfs } from '../helpers/images.js';
import { Store } from '../../src/store/store.js';
import { parseDigest } from '../../src/oci/digest.js';
import { dirEntry, fileEntry, gnuLongName, layoutEntries, paxHeader, TRAILER, ustarHeader } from './tar-bytes.js';

let dir: string;
let layout: string;
let manifestDigest: string;

before(async () => {
  dir = await tempDir('ocitool-tar-reader-');
  const layer = path.join(dir, 'layer.tar');
  await writeRootfsTar(layer, sampleRootfs(7, 6, 20_000));
  layout = path.join(dir, 'layout');
  ({ manifestDigest } = await writeOciLayout(layout, [layer], 'v1'));
});
after(() => removeDir(dir));

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function reassembled(storeDir: string, diffId: string): Promise<Buffer> {
  const store = await Store.open(storeDir);
  const chunks: Buffer[] = [];
  for await (const chunk of await store.openLayer(parseDigest(diffId))) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('a layout tar whose PAX size overrides a ustar size field of 0 imports, plain and gzipped, and GNU tar reads it', async () => {
  const tarBytes = Buffer.concat([await layoutEntries(layout, { paxSizeZero: true }), TRAILER]);
  // Byte 124..135 of the first blob's header really is a size field of 0.
  const plain = path.join(dir, 'pax-size.tar');
  await writeFile(plain, tarBytes);
  await writeFile(`${plain}.gz`, gzipSync(tarBytes));
  const listing = await mustRun('tar', ['-tvf', plain]);
  const manifest = await readFile(path.join(layout, 'blobs/sha256', manifestDigest.slice(7)));
  assert.match(listing, new RegExp(`\\s${manifest.length}\\s.*blobs/sha256/${manifestDigest.slice(7)}`), 'GNU tar applies the PAX size');
  for (const file of [plain, `${plain}.gz`]) {
    const r = await ocitool(['import-oci', file, '--tag', 'pax:size', '-q'], { store: path.join(dir, `store-${path.basename(file)}`) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), manifestDigest);
  }
  const loaded = await ocitool(['load', '-i', plain, '--name', 'pax', '-q'], { store: path.join(dir, 'store-load') });
  assert.equal(loaded.code, 0, loaded.stderr);
});

test('GNU long names and PAX global headers are read in a layout tar', async () => {
  const global = paxHeader('g', { comment: 'written by hand', 'mtime': '0' }, 'pax_global_header');
  const parts: Buffer[] = [global];
  const { readdir } = await import('node:fs/promises');
  parts.push(dirEntry('blobs'), dirEntry('blobs/sha256'));
  for (const name of (await readdir(path.join(layout, 'blobs/sha256'))).sort()) {
    // The name is given twice: a truncated ustar name and the full one in a GNU 'L' record.
    parts.push(fileEntry(`blobs/sha256/${name}`, await readFile(path.join(layout, 'blobs/sha256', name)), { longName: true }));
  }
  for (const name of ['index.json', 'oci-layout']) parts.push(fileEntry(name, await readFile(path.join(layout, name))));
  const file = path.join(dir, 'long-names.tar');
  await writeFile(file, Buffer.concat([...parts, TRAILER]));
  const r = await ocitool(['import-oci', file, '--tag', 'long:names', '-q'], { store: path.join(dir, 'store-long') });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), manifestDigest);
});

test('a layer written by umoci 0.4.7 insert (no end-of-archive blocks) imports and reassembles byte for byte', async () => {
  const work = path.join(dir, 'umoci');
  await mkdir(work);
  const umociLayout = path.join(work, 'L');
  await mustRun('umoci', ['init', '--layout', umociLayout]);
  await mustRun('umoci', ['new', '--image', `${umociLayout}:t`]);
  const file = path.join(work, 'payload');
  await writeFile(file, patternBytes(3000, 5));
  await mustRun('umoci', ['insert', '--image', `${umociLayout}:t`, file, '/payload']);
  const index = JSON.parse(await readFile(path.join(umociLayout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(await readFile(path.join(umociLayout, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  const layerTar = gunzipSync(await readFile(path.join(umociLayout, 'blobs/sha256', manifest.layers.at(-1)!.digest.slice(7))));
  assert.ok(!layerTar.subarray(-1024).equals(Buffer.alloc(1024)), 'the umoci layer really has no end-of-archive blocks');
  const storeDir = path.join(dir, 'store-umoci');
  const r = await ocitool(['import-oci', umociLayout, '--tag', 'umoci:insert'], { store: storeDir });
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await reassembled(storeDir, sha256(layerTar))).equals(layerTar));
  const fsck = await ocitool(['fsck'], { store: storeDir });
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
});

test('a hand-written layer with no last padding and no end blocks splits and reassembles byte for byte; its diff_id matches', async () => {
  const big = patternBytes(70_000, 11); // an object, not inline
  const small = Buffer.from('hi\n');
  const layer = Buffer.concat([dirEntry('etc'), fileEntry('etc/small', small), ustarHeader({ name: 'etc/big', size: big.length }), big]);
  assert.notEqual(layer.length % 512, 0, 'the last entry has no padding');
  const layerFile = path.join(dir, 'no-trailer.tar');
  await writeFile(layerFile, layer);
  const out = path.join(dir, 'layout-no-trailer');
  await writeOciLayout(out, [layerFile], 'v1');
  const storeDir = path.join(dir, 'store-no-trailer');
  const r = await ocitool(['import-oci', out, '--tag', 'no:trailer'], { store: storeDir });
  assert.equal(r.code, 0, r.stderr);
  const back = await reassembled(storeDir, sha256(layer));
  assert.ok(back.equals(layer), 'reassembled bytes equal the input');
  assert.equal(sha256(back), sha256(layer));
  // One zero block only, then nothing: accepted too (Go stops at EOF after one zero block).
  const oneBlock = Buffer.concat([fileEntry('a', big), Buffer.alloc(512)]);
  await writeFile(layerFile, oneBlock);
  await writeOciLayout(path.join(dir, 'layout-one-block'), [layerFile], 'v1');
  const r2 = await ocitool(['import-oci', path.join(dir, 'layout-one-block'), '--tag', 'one:block'], { store: storeDir });
  assert.equal(r2.code, 0, r2.stderr);
  assert.ok((await reassembled(storeDir, sha256(oneBlock))).equals(oneBlock));
});

test('a layer cut inside an entry, inside a header, or after a lone PAX header is refused in one line, nothing kept', async () => {
  const big = patternBytes(5000, 12);
  const cases: [string, Buffer, RegExp][] = [
    ['data', Buffer.concat([ustarHeader({ name: 'f', size: big.length }), big.subarray(0, 4000)]), /truncated tar \(ends in the middle of entry "f"\)/],
    ['header', Buffer.concat([fileEntry('f', big), ustarHeader({ name: 'g', size: 0 }).subarray(0, 300)]), /truncated tar \(ends in the middle of a header block/],
    ['pax', Buffer.concat([fileEntry('f', big), paxHeader('x', { path: 'long' })]), /PAX or long-name records with no entry/],
    ['longname', Buffer.concat([fileEntry('f', big), gnuLongName('x'.repeat(200))]), /PAX or long-name records with no entry/],
  ];
  for (const [name, bytes, message] of cases) {
    const layerFile = path.join(dir, `cut-${name}.tar`);
    await writeFile(layerFile, bytes);
    const out = path.join(dir, `layout-cut-${name}`);
    await writeOciLayout(out, [layerFile], 'v1');
    const storeDir = path.join(dir, `store-cut-${name}`);
    const r = await ocitool(['import-oci', out, '--tag', 'cut:x'], { store: storeDir });
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('ocitool:')).length, 1);
    assert.deepEqual((await listFiles(path.join(storeDir, 'objects'))), [], `${name}: no object kept`);
  }
});

test('a plain layout tar with no end-of-archive blocks is read; one cut inside a blob is refused naming it', async () => {
  const entries = await layoutEntries(layout);
  const whole = path.join(dir, 'layout-no-end.tar');
  await writeFile(whole, entries);
  const r = await ocitool(['import-oci', whole, '--tag', 'no:end', '-q'], { store: path.join(dir, 'store-no-end') });
  assert.equal(r.code, 0, r.stderr);
  // oci-layout is the last entry: cut its data short.
  const cut = path.join(dir, 'layout-cut.tar');
  const last = ustarHeader({ name: 'oci-layout', size: 30 });
  await writeFile(cut, Buffer.concat([entries.subarray(0, entries.length - 1024), last, Buffer.from('{"imageLayout')]));
  const bad = await ocitool(['import-oci', cut, '--tag', 'cut:end'], { store: path.join(dir, 'store-cut-end') });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /layout-cut\.tar: truncated tar \(the data of "oci-layout" runs past the end of the file\)/);
});

test('the header reader: PAX global records apply to later entries, a local record overrides, an empty value unsets; PAX size never gives a link data', async () => {
  const { TarStreamParser } = await import('../../src/tar/stream.js');
  const data = Buffer.from('0123456789');
  const tar = Buffer.concat([
    paxHeader('g', { path: 'from-global' }),
    fileEntry('a', data),
    paxHeader('x', { path: 'from-local' }),
    fileEntry('b', data),
    paxHeader('x', { path: '' }),
    fileEntry('c', data),
    paxHeader('g', { path: '' }),
    fileEntry('d', data, { paxSizeZero: true }),
    paxHeader('x', { size: '100' }),
    ustarHeader({ name: 'link', size: 0, type: '2', linkname: 'd' }),
    TRAILER,
  ]);
  const seen: string[] = [];
  const bytes: Buffer[] = [];
  const parser = new TarStreamParser({
    raw: (b) => void bytes.push(Buffer.from(b)),
    entry: (h) => void seen.push(`${h.name}:${h.size}`),
    data: (b) => void bytes.push(Buffer.from(b)),
  }, 'test tar');
  // Fed in odd-sized pieces: block boundaries must not matter.
  for (let at = 0; at < tar.length; at += 333) await parser.push(tar.subarray(at, at + 333));
  assert.deepEqual(parser.end(), { trailer: true, entries: 5 });
  assert.deepEqual(seen, ['from-global:10', 'from-local:10', 'c:10', 'd:10', 'link:0']);
  assert.ok(Buffer.concat(bytes).equals(tar), 'every byte handed over once, in order');
});
