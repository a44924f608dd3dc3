// Compression streams against the real readers: parallel gzip read by `gzip -t`, `gzip -dc` and
// Node's gunzip at every chunk boundary, the same bytes for any thread count; zstd written by us
// read by `zstd`, and every zstd decoder (the zstd program, fzstd) reading `zstd`'s output and
// refusing corrupt data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, crc32 as nodeCrc32 } from 'node:zlib';
import { createCompressor, createDecompressor, ParallelGzip } from '../../src/compress/index.js';
import { crc32 } from '../../src/compress/crc32.js';
import { createZstdDecompressor, zstdProgram, type ZstdDecoder } from '../../src/compress/zstd.js';
import { mustRun, run, tempDir, removeDir } from '../helpers/index.js';
import { patternBytes } from '../helpers/images.js';

const CHUNK = 128 * 1024;
const SIZES = [0, 1, 32 * 1024 - 1, 32 * 1024, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 2 * 1024 * 1024 + 5];

/** Compressible bytes with long repeats, so matches reach across chunk boundaries into the dictionary. */
function textBytes(size: number, seed: number): Buffer {
  const words = ['alpha ', 'beta ', 'gamma ', 'delta\n', 'usr/lib/x86_64-linux-gnu/', 'libc.so.6 ', 'ELF'];
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  let o = 0;
  while (o < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    o += out.write(words[x % words.length]!, o);
  }
  return out;
}

async function collect(stream: NodeJS.ReadableStream | Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

async function through(input: Buffer, transform: NodeJS.ReadWriteStream, pieceSize = 10007): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let o = 0; o < input.length; o += pieceSize) pieces.push(input.subarray(o, o + pieceSize));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, async function* (source) {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
}

let dir: string;
before(async () => {
  dir = await tempDir();
});
after(() => removeDir(dir));

test('crc32 equals zlib on pieces continued from a previous value', () => {
  const data = textBytes(300_000, 3);
  let value = 0;
  for (let o = 0; o < data.length; o += 4099) value = crc32(data.subarray(o, o + 4099), value);
  assert.equal(value, nodeCrc32(data));
  assert.equal(crc32(Buffer.alloc(0)), 0);
  // An empty Buffer.concat() has no backing store; zlib's crc32() would answer 0 for it.
  assert.equal(crc32(Buffer.concat([], 0), 12345), 12345);
});

test('parallel gzip: gzip -t, gzip -dc and Node gunzip read it back at every chunk boundary', async () => {
  for (const size of SIZES) {
    for (const [kind, input] of [['text', textBytes(size, size + 1)], ['random', patternBytes(size, size + 2)]] as const) {
      const gz = await through(input, new ParallelGzip({ threads: 3 }));
      assert.deepEqual(gunzipSync(gz), input, `${kind} ${size}: Node gunzip`);
      const file = path.join(dir, `p-${kind}-${size}.gz`);
      await writeFile(file, gz);
      await mustRun('gzip', ['-t', file]);
      const back = await collect((await import('node:child_process')).spawn('gzip', ['-dc', file]).stdout);
      assert.ok(back.equals(input), `${kind} ${size}: gzip -dc`);
    }
  }
});

test('parallel gzip: the same bytes for 1, 2 and 5 threads and on every run; compresses across chunk boundaries', async () => {
  const input = textBytes(5 * CHUNK + 999, 42);
  const outputs = [];
  for (const threads of [1, 2, 5, 2]) outputs.push(await through(input, new ParallelGzip({ threads }), 65536 + 3));
  for (const out of outputs.slice(1)) assert.ok(out.equals(outputs[0]!));
  // Without the previous 32 KiB as dictionary each chunk would start cold; with it, the whole
  // stream is within a few percent of one-shot deflate.
  const { gzipSync } = await import('node:zlib');
  assert.ok(outputs[0]!.length < gzipSync(input).length * 1.05, `${outputs[0]!.length} vs ${gzipSync(input).length}`);
});

test('parallel gzip: the header carries level, OS and no mtime; the trailer CRC and size', async () => {
  const input = textBytes(CHUNK + 5, 9);
  const gz = await through(input, new ParallelGzip({ level: 9, threads: 2 }));
  assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
  assert.equal(gz.readUInt32LE(gz.length - 8), nodeCrc32(input));
  assert.equal(gz.readUInt32LE(gz.length - 4), input.length);
  assert.throws(() => new ParallelGzip({ level: 11 }), /level 11/);
});

test('createCompressor gzip is the parallel one and reads back through createDecompressor', async () => {
  const input = textBytes(700_000, 5);
  const gz = await through(input, createCompressor('gzip', { level: 6 }));
  assert.ok(gz.equals(await through(input, new ParallelGzip({ level: 6, threads: 1 }))));
  assert.ok((await through(gz, createDecompressor('gzip'))).equals(input));
});

const decoders: ZstdDecoder[] = ['program', 'js'];

test('the zstd program is found (test setup installs it), so layers decompress at native speed', () => {
  assert.ok(zstdProgram());
});

test('zstd: our compressed stream is read by `zstd -t`, `zstd -dc` and every decoder', async () => {
  for (const size of [0, 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024 + 7]) {
    const input = textBytes(size, size + 11);
    const zst = await through(input, createCompressor('zstd', { level: 3 }), 1 << 20);
    const file = path.join(dir, `z-${size}.zst`);
    await writeFile(file, zst);
    await mustRun('zstd', ['-q', '-t', file]);
    const r = await run('bash', ['-c', `zstd -q -dc ${file} | sha256sum`]);
    const { createHash } = await import('node:crypto');
    assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(input).digest('hex'), `size ${size}: zstd -dc`);
    for (const decoder of decoders) assert.ok((await through(zst, createZstdDecompressor(decoder), 65536)).equals(input), `size ${size}: ${decoder}`);
    // The same bytes again: frames depend on input and level only.
    assert.ok((await through(input, createCompressor('zstd', { level: 3, threads: 1 }), 999_999)).equals(zst), `size ${size}: deterministic`);
  }
});

test('zstd: every decoder reads the zstd program\'s output, including concatenated frames', async () => {
  const input = textBytes(3 * 1024 * 1024 + 3, 77);
  const raw = path.join(dir, 'in.bin');
  await writeFile(raw, input);
  await mustRun('zstd', ['-q', '-f', '-19', raw, '-o', `${raw}.zst`]);
  const one = await readFile(`${raw}.zst`);
  const two = Buffer.concat([one, one]);
  for (const decoder of decoders) {
    assert.ok((await through(one, createZstdDecompressor(decoder), 4096)).equals(input), decoder);
    assert.ok((await through(two, createZstdDecompressor(decoder), 100_003)).equals(Buffer.concat([input, input])), `${decoder}: two frames`);
  }
});

test('zstd: every decoder fails on corrupt or truncated data', async () => {
  const input = textBytes(1024 * 1024, 8);
  const raw = path.join(dir, 'bad.bin');
  await writeFile(raw, input);
  await mustRun('zstd', ['-q', '-f', raw, '-o', `${raw}.zst`]);
  const good = await readFile(`${raw}.zst`);
  const flipped = Buffer.from(good);
  for (let i = 200; i < flipped.length; i += 997) flipped[i]! ^= 0x5a;
  const truncated = good.subarray(0, Math.floor(good.length / 2));
  // The program checks the frame checksum; fzstd does not, so for it corrupt data may decode to
  // other bytes instead of failing (the layer's digests catch that): it must never pass as the input.
  await assert.rejects(through(flipped, createZstdDecompressor('program')), /zstd|corrupt|error|checksum/i);
  const fromJs = await through(flipped, createZstdDecompressor('js')).catch((err: Error) => err);
  assert.ok(fromJs instanceof Error || !fromJs.equals(input), 'js: corrupt');
  for (const decoder of decoders) await assert.rejects(through(truncated, createZstdDecompressor(decoder)), Error, `${decoder}: truncated`);
});

test('zstd program decoder: destroying the stream mid-way ends the child and raises no error later', async () => {
  const input = patternBytes(8 * 1024 * 1024, 4);
  const zst = await through(input, createCompressor('zstd'), 1 << 20);
  const stream = createZstdDecompressor('program');
  stream.write(zst.subarray(0, 1 << 20));
  await new Promise((resolve) => stream.once('data', resolve));
  const closed = new Promise((resolve) => stream.once('close', resolve));
  stream.destroy();
  await closed;
  assert.equal(stream.destroyed, true);
});
