// The dump reader's decoding and refusals, the writer's limits and version rule, and the CLI
// `ocitool composefs --from-dump`. Every image written here also passes fsck.erofs, and one is
// extracted by fsck.erofs to check what the kernel-side reader sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { OcitoolError } from '../../src/errors.js';
import { parseDump } from '../../src/composefs/dump.js';
import { writeErofs } from '../../src/composefs/erofs-writer.js';
import { getXattr, lookupChild, type CfsNode } from '../../src/composefs/tree.js';
import { ocitool, removeDir, repoRoot, run, tempDir } from '../helpers/index.js';

const DIGEST = 'a'.repeat(62) + '0f';

function parse(text: string): CfsNode {
  return parseDump(Buffer.from(text, 'latin1'));
}

function child(node: CfsNode, ...names: string[]): CfsNode {
  for (const name of names) {
    const next = lookupChild(node, name);
    assert.ok(next, `no ${name}`);
    node = next;
  }
  return node;
}

function refusal(text: string): string {
  try {
    writeErofs(parse(text), { version: 0, maxVersion: 1 });
  } catch (err) {
    assert.ok(err instanceof OcitoolError, String(err));
    assert.equal(err.code, 'ARCHIVE_INVALID');
    return err.message;
  }
  return 'accepted';
}

async function fsckOk(image: Buffer, dir: string, name: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, image);
  const r = await run('fsck.erofs', [file]);
  assert.equal(r.code, 0, `fsck.erofs ${name}: ${r.stdout}${r.stderr}`);
  return file;
}

const ROOT = '/ 4096 40755 2 0 0 0 1700000000.5 - - -\n';

test('dump fields decode: escapes, inline content, payload and digest, devices, mtime nanoseconds, hardlinks', () => {
  const root = parse(
    ROOT +
      '/a\\x20b 0 40700 2 1000 1000 0 1700000001.123456789 - - - user.note=line\\nbreak\n' +
      '/a\\x20b/small 6 100644 1 0 0 0 1700000000.0 - tab\\tx\\\\ - security.capability=\\x01\\x00\n' +
      `/a\\x20b/big 123456 100755 3 0 0 0 1700000000.0 ${DIGEST.slice(0, 2)}/${DIGEST.slice(2)} - ${DIGEST}\n` +
      '/a\\x20b/big-link 0 @100755 0 0 0 0 0.0 /a\\x20b/big - -\n' +
      '/dev 0 20644 1 0 0 2049 1700000000.0 - - -\n' +
      '/fifo 7 10644 1 0 0 99 1700000000.0 - - -\n' +
      '/sym 99 120777 1 0 0 0 1700000000.0 a\\x20b/small - -',
  );
  const dir = child(root, 'a b');
  assert.equal(dir.mode, 0o40700);
  assert.equal(dir.uid, 1000);
  assert.equal(dir.mtimeSec, 1700000001n);
  assert.equal(dir.mtimeNsec, 123456789);
  assert.deepEqual(getXattr(dir, 'user.note'), Buffer.from('line\nbreak'));
  const small = child(dir, 'small');
  assert.deepEqual(small.content, Buffer.from('tab\tx\\'));
  assert.equal(small.size, 6n);
  assert.deepEqual(getXattr(small, 'security.capability'), Buffer.from([1, 0]));
  const big = child(dir, 'big');
  assert.equal(big.size, 123456n);
  assert.equal(big.nlink, 3, 'the target keeps the nlink the dump states');
  assert.equal(big.payload, `${DIGEST.slice(0, 2)}/${DIGEST.slice(2)}`);
  assert.equal(big.digest?.toString('hex'), DIGEST);
  assert.equal(child(dir, 'big-link').linkTo, big);
  assert.equal(child(root, 'dev').rdev, 2049n);
  assert.equal(child(root, 'fifo').rdev, 0n, 'rdev is kept for devices only');
  const sym = child(root, 'sym');
  assert.equal(sym.payload, 'a b/small');
  assert.equal(sym.size, 9n, "a symlink's size is its target's length, whatever the dump says");
});

test('malformed dump lines are refused with their line number and cause', () => {
  const cases: Array<[string, RegExp]> = [
    [ROOT + '/x 0 100644 1 0 0 0 0.0 - - - user.a\n', /dump line 2: \/x: xattr without "="/],
    [ROOT + '/x\\q 0 100644 1 0 0 0 0.0 - - -\n', /dump line 2: unsupported escape \\q/],
    [ROOT + '/x\\x4 0 100644 1 0 0 0 0.0 - - -\n', /dump line 2: no hex characters after hex escape/],
    [ROOT + '/x 0 1o0644 1 0 0 0 0.0 - - -\n', /dump line 2: invalid mode "1o0644"/],
    [ROOT + '/x 0 100648 1 0 0 0 0.0 - - -\n', /dump line 2: invalid mode "100648"/],
    [ROOT + '/x 3 100644 1 0 0 0 0.0 - abcd -\n', /dump line 2: \/x: content is 4 bytes but the size field says 3/],
    [ROOT + '/x 0 100644 1 0 0 0 12 - - -\n', /dump line 2: invalid mtime nanoseconds ""/],
    [ROOT + '/x 0 100644 1 0 zero 0 0.0 - - -\n', /dump line 2: invalid gid "zero"/],
    [ROOT + '/x 5 100644 1 0 0 0 0.0 - - abc\n', /dump line 2: \/x: digest "abc" is not 64 hex digits/],
    [ROOT + '/d/x 0 100644 1 0 0 0 0.0 - - -\n', /dump line 2: parent directory missing for \/d\/x/],
    [ROOT + '/x 0 100644 1 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - -\n', /dump line 3: \/x already exists/],
    [ROOT + '\n/x 0 100644 1 0 0 0 0.0 - - -\n', /dump line 2: empty path/],
    ['/x 0 100644 1 0 0 0 0.0 - - -\n', /dump line 1: \/x comes before the root entry/],
    [ROOT + ROOT, /dump line 2: a second root entry/],
    [ROOT + '/x 0 @100644 1 0 0 0 0.0 - - -\n', /\/x: hardlink without a target path/],
    [ROOT + '/x 0 @100644 1 0 0 0 0.0 /nothere - -\n', /\/x: hardlink target \/nothere does not exist/],
    [ROOT + '/x 0 100644 1 0 0 0 0.0 - - - a\\x00b=1\n', /dump line 2: \/x: xattr "a\0b": name holds a NUL byte/],
    ['', /dump holds no entries/],
  ];
  for (const [text, expected] of cases) assert.match(refusal(text), expected, JSON.stringify(text.slice(-60)));
});

test('names, symlink targets, xattrs and sizes over the format limits are refused naming the path', () => {
  assert.match(refusal(ROOT + `/${'n'.repeat(256)} 0 100644 1 0 0 0 0.0 - - -\n`), new RegExp(`/${'n'.repeat(256)}: file name is 256 bytes, the limit is 255`));
  assert.match(refusal(ROOT + `/l 1 120777 1 0 0 0 0.0 ${'t'.repeat(4096)} - -\n`), /\/l: symlink target is 4096 bytes, the limit is 4095/);
  assert.match(refusal(ROOT + `/x 0 100644 1 0 0 0 0.0 - - - user.${'k'.repeat(251)}=v\n`), /\/x: xattr "user\.k+\.\.\.": name is 256 bytes, the limit is 255/);
  assert.match(refusal(ROOT + `/x 0 100644 1 0 0 0 0.0 - - - user.a=${'v'.repeat(20000)} user.b=${'v'.repeat(20000)}\n`), /\/x: xattr "user\.b": the inode's xattrs would take more than 32767 bytes/);
  assert.match(refusal(ROOT + '/x 9007199254740993 100644 1 0 0 0 0.0 - - -\n'), /\/x: file size 9007199254740993 is over the largest composefs can describe/);
});

test('limits are inclusive: a 255-byte name, a 4095-byte symlink and the largest external file make a valid image', async () => {
  const dir = await tempDir('ocitool-cfs-');
  try {
    const image = writeErofs(
      parse(
        ROOT +
          `/${'n'.repeat(255)} 0 100644 1 0 0 0 0.0 - - -\n` +
          `/l 1 120777 1 0 0 0 0.0 ${'t'.repeat(4095)} - -\n` +
          `/huge 9007199254740992 100644 1 0 0 0 0.0 ${DIGEST.slice(0, 2)}/${DIGEST.slice(2)} - ${DIGEST}\n`,
      ),
      { version: 0 },
    );
    await fsckOk(image, dir, 'limits.img');
  } finally {
    await removeDir(dir);
  }
});

test('a whiteout selects format 1 when allowed, and the image reads back through fsck.erofs --extract', async () => {
  const text =
    ROOT +
    '/etc 0 40755 2 0 0 0 1700000000.0 - - - trusted.overlay.opaque=y\n' +
    '/etc/gone 0 20000 1 0 0 0 1700000000.0 - - -\n' +
    '/etc/hosts 12 100644 2 0 0 0 1700000000.0 - 127.0.0.1\\x20h\\n -\n' +
    '/etc/hosts2 0 @100644 0 0 0 0 0.0 /etc/hosts - -\n' +
    '/etc/sym 0 120777 1 0 0 0 1700000000.0 hosts - -\n';
  const dir = await tempDir('ocitool-cfs-');
  try {
    const version = async (image: Buffer, name: string) => {
      await fsckOk(image, dir, name);
      return image.readUInt32LE(12);
    };
    assert.equal(await version(writeErofs(parse(text), { version: 0, maxVersion: 1 }), 'v0-1.img'), 1);
    assert.equal(await version(writeErofs(parse(text), { version: 0 }), 'v0.img'), 0);
    assert.equal(await version(writeErofs(parse(ROOT), { version: 0, maxVersion: 1 }), 'root-v0-1.img'), 0, 'no whiteout: stays 0');
    assert.equal(await version(writeErofs(parse(ROOT), { version: 1 }), 'root-v1.img'), 1);
    const file = await fsckOk(writeErofs(parse(text), { version: 1 }), dir, 'whiteout.img');
    const out = path.join(dir, 'x');
    const r = await run('fsck.erofs', [`--extract=${out}`, '--no-preserve', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(path.join(out, 'etc/hosts'), 'utf8'), '127.0.0.1 h\n');
    assert.equal(await readFile(path.join(out, 'etc/hosts2'), 'utf8'), '127.0.0.1 h\n');
    const nid = async (p: string) => /NID: (\d+)/.exec((await run('dump.erofs', [`--path=${p}`, file])).stdout)?.[1];
    assert.ok(await nid('/etc/hosts'));
    assert.equal(await nid('/etc/hosts2'), await nid('/etc/hosts'), 'the hardlink is the same inode');
    assert.equal(await readlink(path.join(out, 'etc/sym')), 'hosts');
    // The whiteout is escaped into an empty regular file, and the 256 overlay stubs fill the root.
    assert.ok((await stat(path.join(out, 'etc/gone'))).isFile());
    assert.equal((await readdir(out)).filter((n) => /^[0-9a-f]{2}$/.test(n)).length, 256);
  } finally {
    await removeDir(dir);
  }
});

test('a directory of thousands of entries spills into data blocks and stays valid', async () => {
  let text = ROOT + '/many 0 40755 2 0 0 0 1700000000.0 - - -\n';
  for (let i = 0; i < 3000; i++) text += `/many/entry-with-a-long-name-${String(i).padStart(5, '0')} 0 100644 1 ${i} 0 0 1700000000.0 - - - user.shared=same\n`;
  const dir = await tempDir('ocitool-cfs-');
  try {
    const image = writeErofs(parse(text), { version: 0 });
    assert.ok(image.length > 30 * 4096);
    await fsckOk(image, dir, 'many.img');
  } finally {
    await removeDir(dir);
  }
});

const vectorsDir = path.resolve(repoRoot, '..', 'shared', 'composefs-vectors');

test('ocitool composefs --from-dump: gzip, standard input, --format-version, --print-digest', async () => {
  assert.ok(existsSync(vectorsDir), `composefs vectors missing: ${vectorsDir}`);
  const dir = await tempDir('ocitool-cfs-');
  try {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const expected = async (name: string) => (await readFile(path.join(vectorsDir, `${name}.sha256`), 'utf8')).trim().split(/\s+/)[0];

    const fromGz = path.join(dir, 'config.img');
    const r1 = await ocitool(['composefs', '--from-dump', path.join(vectorsDir, 'config.dump.gz'), '-o', fromGz, '--print-digest']);
    assert.equal(r1.code, 0, r1.stderr);
    const image = await readFile(fromGz);
    assert.equal(sha(image), await expected('config.dump.gz'));
    const verity = await run('fsverity', ['digest', fromGz]);
    assert.equal(r1.stdout.trim(), verity.stdout.trim().split(' ')[0], 'the printed digest is the fs-verity digest');
    await fsckOk(image, dir, 'config-check.img');

    const special = await readFile(path.join(vectorsDir, 'special.dump'));
    const fromStdin = path.join(dir, 'special-v1.img');
    const r2 = await ocitool(['composefs', '--from-dump', '-', '-o', fromStdin, '--format-version', '1'], { input: gzipSync(special) });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(sha(await readFile(fromStdin)), await expected('special_v1.dump'));
    await fsckOk(await readFile(fromStdin), dir, 'special-v1-check.img');

    const r3 = await ocitool(['composefs', '--from-dump', path.join(vectorsDir, 'special.dump'), '-o', path.join(dir, 'special.img'), '--format-version', '0']);
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(sha(await readFile(path.join(dir, 'special.img'))), await expected('special.dump'));
    await fsckOk(await readFile(path.join(dir, 'special.img')), dir, 'special-check.img');
  } finally {
    await removeDir(dir);
  }
});

test('ocitool composefs --from-dump refuses a bad dump in one line, exit 1, and writes no image', async () => {
  const dir = await tempDir('ocitool-cfs-');
  try {
    const out = path.join(dir, 'out.img');
    const r = await ocitool(['composefs', '--from-dump', path.join(vectorsDir, 'should-fail-long-xattr-value.dump'), '-o', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ocitool: composefs: dump line 2: /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(await readdir(dir), [], 'no image and no temporary file left');
    const missing = await ocitool(['composefs', '--from-dump', path.join(dir, 'none.dump'), '-o', out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /none\.dump: ENOENT/);
    const gz = path.join(dir, 'bad.dump.gz');
    await writeFile(gz, Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    const badGz = await ocitool(['composefs', '--from-dump', gz, '-o', out]);
    assert.equal(badGz.code, 1);
    assert.match(badGz.stderr, /bad\.dump\.gz: not a readable gzip file/);
  } finally {
    await removeDir(dir);
  }
});
