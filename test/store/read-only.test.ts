// A store this process may not write (owned by another user, or on a read-only mount): reading
// commands work, writing ones (composefs, and mount where it must store the composefs image) fail
// with one line saying the store is read-only and change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, ocitool, removeDir, repoRoot, run, tempDir, type RunResult } from '../helpers/index.js';
import { buildImage, imageAFiles, imageBFiles, type TestImage } from '../helpers/layouts.js';

const isRoot = process.getuid?.() === 0;
let dir: string;
let a: TestImage;
let b: TestImage;
/** The CLI as user nobody runs it (root only). */
let program = '';

before(async () => {
  dir = await tempDir();
  await chmod(dir, 0o755); // the unprivileged user must reach the store and the layouts
  a = await buildImage(dir, 'a', imageAFiles());
  b = await buildImage(dir, 'b', imageBFiles());
  if (isRoot) {
    // A copy of the built CLI that user nobody can reach: the checkout itself may sit below a
    // folder only its owner may enter (mktemp -d makes 0700 folders).
    program = path.join(dir, 'program');
    await cp(path.join(repoRoot, 'bin'), path.join(program, 'bin'), { recursive: true });
    await cp(path.join(repoRoot, 'dist', 'src'), path.join(program, 'dist', 'src'), { recursive: true });
    await cp(path.join(repoRoot, 'package.json'), path.join(program, 'package.json'));
    await cp(path.join(repoRoot, 'node_modules'), path.join(program, 'node_modules'), {
      recursive: true,
      filter: (src) => !/node_modules\/(typescript|@types)(\/|$)/.test(src),
    });
  }
});
after(async () => {
  await run('umount', [path.join(dir, 'ro-mount')]);
  await run('chmod', ['-R', 'u+w', dir]);
  await removeDir(dir);
});

/** As root: the CLI as user nobody. Otherwise we already are unprivileged. */
function asUnprivileged(store: string, args: string[]): Promise<RunResult> {
  if (!isRoot) return ocitool(args, { store });
  return run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(program, 'bin', 'ocitool'), ...args], { env: { OCITOOL_STORE: store } });
}

async function checkReadOnly(store: string, runAs: (args: string[]) => Promise<RunResult>): Promise<void> {
  const before = await listFiles(store);
  const images = await runAs(['images', '--json']);
  assert.equal(images.code, 0, images.stderr);
  assert.deepEqual(JSON.parse(images.stdout).map((i: { name: string }) => i.name), ['docker.io/library/a:latest']);
  assert.equal(images.stderr, '');
  const fsck = await runAs(['fsck']);
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  assert.equal((await runAs(['inspect', 'a'])).code, 0);
  for (const args of [['gc'], ['rm', 'a'], ['composefs', 'a']]) {
    const r = await runAs(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr, `ocitool: store ${store} is read-only\n`, args.join(' '));
  }
  const imp = await runAs(['import-oci', b.gzip, '--tag', 'b', '-q']);
  assert.equal(imp.code, 1);
  assert.equal(imp.stderr.trim().split('\n').length, 1, imp.stderr);
  assert.deepEqual(await listFiles(store), before, 'the store is unchanged');
}

test('a store owned by another user: images, fsck and inspect work; gc, rm and import fail with one line', async () => {
  const store = path.join(dir, 'other-user');
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a', '-q'], { store })).code, 0);
  if (!isRoot) await run('chmod', ['-R', 'a-w', store]);
  await checkReadOnly(store, (args) => asUnprivileged(store, args));
  // A store from before store.lock existed: readers go on without the lock they cannot create.
  if (isRoot) await rm(path.join(store, 'locks', 'store.lock'));
  else {
    await chmod(path.join(store, 'locks'), 0o755);
    await rm(path.join(store, 'locks', 'store.lock'));
    await chmod(path.join(store, 'locks'), 0o555);
  }
  const images = await asUnprivileged(store, ['images', '--json']);
  assert.equal(images.code, 0, images.stderr);
  assert.equal(JSON.parse(images.stdout).length, 1);
});

test('a store on a read-only mount (EROFS): the same', async () => {
  const store = path.join(dir, 'ro-source');
  assert.equal((await ocitool(['import-oci', a.gzip, '--tag', 'a', '-q'], { store })).code, 0);
  const mount = path.join(dir, 'ro-mount');
  await mkdir(mount);
  if (isRoot) {
    // A read-only bind mount: every write fails with EROFS, even for root.
    for (const args of [['--bind', store, mount], ['-o', 'remount,ro,bind', mount]]) {
      const r = await run('mount', args);
      assert.equal(r.code, 0, `mount ${args.join(' ')}: ${r.stderr}`);
    }
  } else {
    // Unprivileged users cannot mount: the nearest thing is a store with no write permission.
    await run('cp', ['-a', `${store}/.`, mount]);
    await run('chmod', ['-R', 'a-w', mount]);
  }
  await checkReadOnly(mount, (args) => ocitool(args, { store: mount }));
  const filesystems = await readFile('/proc/filesystems', 'utf8');
  if (isRoot && /\berofs$/m.test(filesystems) && /\boverlay$/m.test(filesystems)) {
    // mount must store the image's composefs image first: refused in one line, nothing mounted.
    const before = await listFiles(mount);
    const mnt = path.join(dir, 'ro-mnt');
    await mkdir(mnt);
    const r = await ocitool(['mount', 'a', mnt], { store: mount });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ocitool: store ${mount} is read-only\n`);
    assert.deepEqual(await listFiles(mnt), []);
    assert.deepEqual(await listFiles(mount), before, 'the store is unchanged');
  }
});
