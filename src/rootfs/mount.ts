/**
 * Mounting a stored image through composefs: its EROFS image (composefs-image.ts) is mounted
 * read-only from a loop device under /run/ocitool/mounts/, then an overlayfs at the mount point
 * uses it as the metadata layer and the store's objects/ as a data-only lower layer
 * (`lowerdir=META::OBJECTS`, Linux 6.5 or later), with metacopy and redirect_dir on. Objects carry
 * no fs-verity here, so the kernel does not check file contents: `fsck` does.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { OcitoolError, withLaterFailure } from '../errors.js';
import type { Platform } from '../oci/platform.js';
import { linkedObject } from '../store/reach.js';
import type { Store } from '../store/store.js';
import { exists, isEnoent } from '../util/fs.js';
import { walkTree } from './merge.js';
import { composefsImageOf, composefsLink, storeComposefsImage } from './composefs-image.js';
import { readImageTree } from './from-store.js';

export const MOUNT_ROOT = '/run/ocitool/mounts';

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 2000)));
    child.on('error', (err) => reject(new OcitoolError('IO', `${cmd}: ${err.message}`, { cause: err })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new OcitoolError('IO', `${cmd} ${args.join(' ')}: ${stderr.trim().split('\n')[0] || `exit ${code}`}`))));
  });
}

/** Refuses, in one line, where the kernel or the caller cannot mount composefs images. */
export async function checkMountSupport(): Promise<void> {
  if (process.getuid?.() !== 0) throw new OcitoolError('USAGE', 'mounting a composefs image needs root (it mounts erofs and overlayfs)');
  const filesystems = await readFile('/proc/filesystems', 'utf8');
  const missing = ['erofs', 'overlay'].filter((fs) => !new RegExp(`\\b${fs}$`, 'm').test(filesystems));
  if (missing.length) throw new OcitoolError('USAGE', `this kernel lacks ${missing.join(' and ')} (not in /proc/filesystems): composefs mounts need erofs and overlayfs`);
}

export interface MountResult {
  name: string;
  manifest: string;
  mountpoint: string;
  id: string;
}

export async function mountImage(store: Store, image: string, mountpoint: string, options: { platform?: Platform } = {}): Promise<MountResult> {
  await checkMountSupport();
  mountpoint = path.resolve(mountpoint);
  const st = await stat(mountpoint).catch((err: NodeJS.ErrnoException) => {
    throw new OcitoolError(isEnoent(err) ? 'NOT_FOUND' : 'IO', `mount point ${mountpoint}: ${err.message}`);
  });
  if (!st.isDirectory()) throw new OcitoolError('USAGE', `mount point ${mountpoint} is not a folder`);
  // Every object the image points at must be in the store, with its size, before mounting.
  // Under the shared lock until mounted, so gc cannot remove objects between the check and the mount.
  // Taken for reading: a read-only store mounts an image already stored; storing one checks it can write.
  const lock = await store.lockShared('read');
  try {
    return await mountLocked(store, image, mountpoint, options);
  } finally {
    await lock.release();
  }
}

async function mountLocked(store: Store, image: string, mountpoint: string, options: { platform?: Platform }): Promise<MountResult> {
  const imageTree = await readImageTree(store, image, options.platform);
  const { tree } = imageTree;
  for (const { path: p, node } of walkTree(tree)) {
    const c = node.inode.content;
    if (node.inode.type !== 'file' || c?.kind !== 'object') continue;
    const file = store.paths.object(c.id as never);
    const size = await stat(file).then((s) => s.size, (err: NodeJS.ErrnoException) => {
      if (isEnoent(err)) return -1;
      throw err;
    });
    if (size !== node.inode.size) {
      throw new OcitoolError('BLOB_MISSING', `/${Buffer.from(p, 'latin1').toString('utf8')}: store object ${c.id} is ${size < 0 ? 'missing' : `${size} bytes, not ${node.inode.size}`}; pull or import the image again`);
    }
  }
  const built = composefsImageOf(imageTree); // the tree read once, for the object check and the image
  const imageFile = store.paths.object(built.id as never);
  // The link may name another image of this manifest (`composefs --format-version 0` stores under
  // the same link): stored again unless it names exactly this one, whose object is there.
  const linked = await linkedObject(composefsLink(store, built.manifest));
  if (linked !== built.id || !(await exists(imageFile))) await storeComposefsImage(store, built, { lockHeld: true });
  const meta = path.join(MOUNT_ROOT, createHash('sha256').update(mountpoint).digest('hex').slice(0, 32));
  await mkdir(meta, { recursive: true, mode: 0o700 });
  await run('mount', ['-t', 'erofs', '-o', 'loop,ro', imageFile, meta]);
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${meta}::${store.paths.objects},metacopy=on,redirect_dir=on`, mountpoint]);
  } catch (err) {
    try {
      await run('umount', [meta]);
    } catch (later) {
      // Still mounted: the folder stays, and the user is told what to unmount.
      throw withLaterFailure(err, later, `unmounting ${meta}`);
    }
    try {
      await rmdir(meta);
    } catch (later) {
      throw withLaterFailure(err, later, `removing ${meta}`);
    }
    throw err;
  }
  return { name: built.name, manifest: built.manifest, mountpoint, id: built.id };
}

export async function unmountImage(mountpoint: string): Promise<void> {
  await checkMountSupport();
  mountpoint = path.resolve(mountpoint);
  const meta = path.join(MOUNT_ROOT, createHash('sha256').update(mountpoint).digest('hex').slice(0, 32));
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const mounted = (p: string) => mounts.split('\n').some((line) => line.split(' ')[4] === p);
  if (!mounted(mountpoint)) throw new OcitoolError('NOT_FOUND', `nothing is mounted at ${mountpoint}`);
  if (!mounted(meta)) throw new OcitoolError('USAGE', `${mountpoint} was not mounted by ocitool mount`);
  await run('umount', [mountpoint]);
  await run('umount', [meta]);
  await rmdir(meta);
}
