/**
 * Writes a merged tree (merge.ts) to a folder: `checkout`. Safe by construction: the folder is
 * new (a `.partial` sibling renamed into place at the end), every path is created once, parents
 * before children, and the tree only has children under folders, so no path we create ever goes
 * through a symlink: nothing on disk is followed. File contents come from store objects, each
 * checked against its fs-verity digest before a byte of it reaches the checkout.
 *
 * Node has no mknod(2) or setxattr(2): device nodes and FIFOs are made with coreutils `mknod`,
 * extended attributes with attr's `setfattr` when it is installed; what cannot be made is
 * counted and named in the summary, never dropped silently.
 */
import { spawnSync } from 'node:child_process';
import { constants, closeSync, copyFileSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, readSync, statSync, symlinkSync, unlinkSync, writeSync, chmodSync, chownSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { OcitoolError } from '../errors.js';
import { FsVerityHasher, type ObjectId } from '../verity/fsverity.js';
import { walkTree, type Inode, type MergedTree } from './merge.js';

export type CheckoutMode = 'auto' | 'reflink' | 'copy' | 'hardlink';

export interface WriteTreeOptions {
  mode: CheckoutMode;
  /** Path of a store object by id. */
  objectPath(id: string): string;
  /** Called once per message worth telling the user (owners not kept, …). */
  onNote?(text: string): void;
  /** Called after each regular file, with its size. */
  onFile?(size: number): void;
}

export interface WriteTreeSummary {
  files: number;
  directories: number;
  symlinks: number;
  /** Extra paths of hardlink groups. */
  hardlinks: number;
  bytes: number;
  /** Files that share their inode with the store object (--mode hardlink). */
  linkedToStore: number;
  reflinked: number;
  skipped: { devices: number; fifos: number; xattrs: string[]; owners: boolean };
}

const COPY_CHUNK = 1024 * 1024;

/** Byte-string name (latin1, one char per byte) to a path Buffer. */
function fsPath(root: string, rel: string): Buffer {
  return rel === '' ? Buffer.from(root) : Buffer.concat([Buffer.from(root), Buffer.from('/'), Buffer.from(rel, 'latin1')]);
}

export function writeTree(tree: MergedTree, dir: string, options: WriteTreeOptions): WriteTreeSummary {
  const summary: WriteTreeSummary = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, bytes: 0, linkedToStore: 0, reflinked: 0, skipped: { devices: 0, fifos: 0, xattrs: [], owners: false } };
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) summary.skipped.owners = true;
  let reflink: boolean | undefined = options.mode === 'reflink' ? true : options.mode === 'copy' || options.mode === 'hardlink' ? false : undefined;
  const written = new Map<Inode, Buffer>(); // first path of each hardlink group
  const folders: Array<{ p: Buffer; inode: Inode }> = [];
  let hasSetfattr: boolean | undefined;

  const verifyObject = (id: string, size: number, what: string): string => {
    const file = options.objectPath(id);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw new OcitoolError('BLOB_MISSING', `${what}: store object ${id} cannot be opened: ${(err as Error).message}`, { cause: err });
    }
    try {
      const hasher = new FsVerityHasher();
      const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(size, 1)));
      let n: number;
      while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) hasher.update(buf.subarray(0, n));
      if (hasher.size !== size || hasher.hex() !== id) {
        throw new OcitoolError('STORE_CORRUPT', `${what}: store object ${id} is corrupt (${hasher.size} bytes, fs-verity ${hasher.hex()}); run ocitool fsck --repair and pull or import the image again`);
      }
    } finally {
      closeSync(fd);
    }
    return file;
  };

  const copyVerified = (src: string, dst: Buffer, id: string, size: number, what: string): void => {
    // Read once: hash and write in the same pass, then compare; a mismatch removes the file.
    const input = openSync(src, 'r');
    let out: number | undefined;
    try {
      out = openSync(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      const hasher = new FsVerityHasher();
      const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(size, 1)));
      let n: number;
      while ((n = readSync(input, buf, 0, buf.length, null)) > 0) {
        hasher.update(buf.subarray(0, n));
        let off = 0;
        while (off < n) off += writeSync(out, buf, off, n - off);
      }
      if (hasher.size !== size || hasher.hex() !== id) {
        closeSync(out);
        out = undefined;
        unlinkSync(dst);
        throw new OcitoolError('STORE_CORRUPT', `${what}: store object ${id} is corrupt (${hasher.size} bytes, fs-verity ${hasher.hex()}); run ocitool fsck --repair and pull or import the image again`);
      }
    } finally {
      closeSync(input);
      if (out !== undefined) closeSync(out);
    }
  };

  const setOwner = (p: Buffer, inode: Inode, link = false): void => {
    if (!isRoot) return;
    (link ? lchownSync : chownSync)(p, inode.uid, inode.gid);
  };

  const setXattrs = (p: Buffer, rel: string, inode: Inode): void => {
    if (inode.xattrs.size === 0) return;
    hasSetfattr ??= spawnSync('setfattr', ['--version'], { stdio: 'ignore' }).status === 0;
    for (const [name, value] of inode.xattrs) {
      const ok = hasSetfattr && spawnSync('setfattr', ['-h', '-n', name, '-v', `0x${value.toString('hex')}`, p.toString('latin1')], { stdio: 'ignore' }).status === 0;
      if (!ok) summary.skipped.xattrs.push(`${rel || '/'}: ${name}`);
    }
  };

  const writeFile = (p: Buffer, rel: string, inode: Inode): void => {
    const what = `file /${rel}`;
    const content = inode.content;
    if (!content || content.kind === 'inline') {
      const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        const data = content?.kind === 'inline' ? content.data : Buffer.alloc(0);
        if (data.length !== inode.size) throw new OcitoolError('STORE_CORRUPT', `${what}: inline content has ${data.length} bytes, the tar says ${inode.size}`);
        let off = 0;
        while (off < data.length) off += writeSync(fd, data, off, data.length - off);
        if (isRoot) fchownSync(fd, inode.uid, inode.gid);
        fchmodSync(fd, inode.mode & 0o7777);
        futimesSync(fd, toTime(inode.mtime), toTime(inode.mtime));
      } finally {
        closeSync(fd);
      }
      summary.bytes += inode.size;
      return;
    }
    const src = options.objectPath(content.id);
    if (options.mode === 'hardlink' && canShareInode(src, inode)) {
      verifyObject(content.id, inode.size, what);
      linkSync(src, p);
      summary.linkedToStore++;
      summary.bytes += inode.size;
      return;
    }
    if (reflink !== false) {
      // A clone shares blocks with the object; hash the object first so nothing unverified lands.
      verifyObject(content.id, inode.size, what);
      try {
        copyFileSync(src, p, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
        reflink = true;
        summary.reflinked++;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (options.mode === 'reflink') throw new OcitoolError('IO', `${what}: --mode reflink: this filesystem cannot clone files (${code}); use --mode copy or auto`, { cause: err });
        if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'EINVAL' && code !== 'ENOSYS') throw err;
        reflink = false; // auto: this filesystem cannot clone; copy from now on
        copyFileSync(src, p, constants.COPYFILE_EXCL);
      }
    } else {
      copyVerified(src, p, content.id as ObjectId, inode.size, what);
    }
    if (isRoot) chownSync(p, inode.uid, inode.gid);
    chmodSync(p, inode.mode & 0o7777);
    utimesSync(p, toTime(inode.mtime), toTime(inode.mtime));
    summary.bytes += inode.size;
  };

  for (const { path: rel, node } of walkTree(tree)) {
    const p = fsPath(dir, rel);
    const inode = node.inode;
    const first = written.get(inode);
    if (first && inode.type !== 'directory') {
      linkSync(first, p);
      summary.hardlinks++;
      continue;
    }
    switch (inode.type) {
      case 'directory':
        if (rel !== '') mkdirSync(p, 0o700);
        folders.push({ p, inode });
        summary.directories++;
        break;
      case 'file':
        writeFile(p, rel, inode);
        summary.files++;
        options.onFile?.(inode.size);
        break;
      case 'symlink':
        symlinkSync(Buffer.from(inode.linkname ?? '', 'latin1'), p);
        setOwner(p, inode, true);
        lutimesSync(p, toTime(inode.mtime), toTime(inode.mtime));
        summary.symlinks++;
        break;
      case 'char':
      case 'block':
      case 'fifo': {
        if (!isRoot && inode.type !== 'fifo') {
          summary.skipped.devices++;
          continue;
        }
        const args = inode.type === 'fifo' ? [p.toString('latin1'), 'p'] : [p.toString('latin1'), inode.type === 'char' ? 'c' : 'b', String(inode.devMajor ?? 0), String(inode.devMinor ?? 0)];
        const r = spawnSync('mknod', ['-m', (inode.mode & 0o7777).toString(8), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        if (r.status !== 0) {
          if (inode.type === 'fifo') summary.skipped.fifos++;
          else summary.skipped.devices++;
          continue;
        }
        setOwner(p, inode);
        utimesSync(p, toTime(inode.mtime), toTime(inode.mtime));
        break;
      }
    }
    setXattrs(p, rel, inode);
    if (inode.type !== 'directory') written.set(inode, p);
  }
  // Folders last, deepest first: writing a child changes its folder's mtime, and a read-only
  // folder mode would stop the children being written.
  for (let i = folders.length - 1; i >= 0; i--) {
    const { p, inode } = folders[i]!;
    setOwner(p, inode);
    chmodSync(p, inode.mode & 0o7777);
    utimesSync(p, toTime(inode.mtime), toTime(inode.mtime));
  }
  return summary;
}

function toTime(t: { sec: number; nsec: number }): number {
  return t.sec + t.nsec / 1e9;
}

/** A store object's inode can be shared only when its mode, owner and mtime are the file's. */
function canShareInode(objectFile: string, inode: Inode): boolean {
  const st = statSync(objectFile);
  return (st.mode & 0o7777) === (inode.mode & 0o7777) && st.uid === inode.uid && st.gid === inode.gid && Math.floor(st.mtimeMs / 1000) === inode.mtime.sec;
}

/** Unused-name check kept here so callers share the rule: the partial folder beside `dir`. */
export function partialDirFor(dir: string, pid = process.pid, nonce = ''): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.partial-${pid}${nonce ? `-${nonce}` : ''}`);
}

