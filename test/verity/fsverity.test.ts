// fs-verity digests against the real `fsverity digest` (Debian package fsverity), both hashes,
// at every tree boundary: empty, 1 byte, one block, one block + 1, two blocks, the sha256 tree
// level boundary (512 KiB), the sha512 one (256 KiB), and a few MiB.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FsVerityHasher } from '../../src/verity/fsverity.js';
import { fsverityDigestOfFile } from '../../src/verity/file-digest.js';
import { pathToFileURL } from 'node:url';
import { mustRun, ocitool, repoRoot, tempDir, removeDir } from '../helpers/index.js';
import { patternBytes } from '../helpers/images.js';

const SIZES = [0, 1, 4096, 4097, 8192, 256 * 1024, 256 * 1024 + 1, 512 * 1024, 512 * 1024 + 1, 3 * 1024 * 1024 + 333, 64 * 1024 * 1024 + 4097];
let dir: string;

before(async () => {
  dir = await tempDir();
  for (const size of SIZES) await writeFile(path.join(dir, `f${size}`), patternBytes(size, size + 7));
});
after(() => removeDir(dir));

for (const algorithm of ['sha256', 'sha512'] as const) {
  test(`library digest equals fsverity digest (${algorithm}) at every boundary`, async () => {
    for (const size of SIZES) {
      const file = path.join(dir, `f${size}`);
      const data = await readFile(file);
      const hasher = new FsVerityHasher(algorithm);
      // Odd chunk sizes exercise the block buffering.
      for (let o = 0; o < data.length; o += 10007) hasher.update(data.subarray(o, o + 10007));
      const real = (await mustRun('fsverity', ['digest', `--hash-alg=${algorithm}`, file])).split(' ')[0];
      assert.equal(`${algorithm}:${hasher.digest().toString('hex')}`, real, `size ${size}`);
    }
  });

  test(`whole-file digest on 1, 2 and 3 threads equals fsverity digest (${algorithm}) at every boundary`, async () => {
    for (const size of SIZES) {
      const file = path.join(dir, `f${size}`);
      const real = (await mustRun('fsverity', ['digest', `--hash-alg=${algorithm}`, file])).split(' ')[0];
      // Small pieces and no size threshold, so even small files are split between threads.
      for (const threads of [1, 2, 3]) {
        const digest = await fsverityDigestOfFile(file, algorithm, { threads, parallelMin: 0, piece: 8192 });
        assert.equal(`${algorithm}:${digest.toString('hex')}`, real, `size ${size}, ${threads} threads`);
      }
    }
  });

  test(`ocitool fsverity-digest prints what fsverity prints (${algorithm})`, async () => {
    const files = SIZES.map((s) => path.join(dir, `f${s}`));
    const ours = await ocitool(['fsverity-digest', '--hash', algorithm, ...files]);
    assert.equal(ours.code, 0, ours.stderr);
    const theirs = await mustRun('fsverity', ['digest', `--hash-alg=${algorithm}`, ...files]);
    assert.equal(ours.stdout, theirs);
  });
}

test('whole-file digest on threads works from a process started with --input-type=module -e', async () => {
  const file = path.join(dir, `f${3 * 1024 * 1024 + 333}`);
  const library = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'verity', 'file-digest.js')).href;
  const script = `const { fsverityDigestOfFile } = await import(${JSON.stringify(library)}); console.log((await fsverityDigestOfFile(${JSON.stringify(file)}, 'sha256', { threads: 2, parallelMin: 0, piece: 65536 })).toString('hex'));`;
  const out = await mustRun(process.execPath, ['--input-type=module', '-e', script]);
  const real = (await mustRun('fsverity', ['digest', file])).split(' ')[0];
  assert.equal(`sha256:${out.trim()}`, real);
});

test('whole-file digest of a missing file names it', async () => {
  await assert.rejects(fsverityDigestOfFile(path.join(dir, 'absent'), 'sha256', { threads: 2, parallelMin: 0 }), /absent/);
});

test('fsverity-digest of a missing file is one line and exit 1', async () => {
  const r = await ocitool(['fsverity-digest', path.join(dir, 'nope')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nope/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});
