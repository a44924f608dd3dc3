/**
 * The file tree a composefs image describes, as libcomposefs models it: one node per inode, a
 * hardlink being an extra directory entry whose node points at its target. The dump parser builds
 * it and the EROFS writer reads it; the rules (name and xattr limits, the xattr size accounting,
 * how a replaced xattr moves) follow libcomposefs so that limits refuse exactly what mkcomposefs
 * refuses.
 *
 * Names, xattr keys and payloads are byte strings held as latin1 strings (one char per byte), so
 * that sorting with `<` is strcmp's byte order and any byte survives the round trip.
 */
import { OcitoolError } from '../errors.js';

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Longest file name (bytes), as libcomposefs LCFS_MAX_NAME_LENGTH. */
export const MAX_NAME_LENGTH = 255;
/** Longest xattr key (bytes), the kernel's XATTR_NAME_MAX. */
export const XATTR_NAME_MAX = 255;
/** Longest symlink target or payload: below PATH_MAX. */
export const PATH_MAX = 4096;
/** Largest inline file content (LCFS_INLINE_CONTENT_MAX). */
export const INLINE_CONTENT_MAX = 5000;
/** Budget for one inode's xattrs from outside (LCFS_INODE_EXTERNAL_XATTR_MAX = UINT16_MAX / 2). */
export const EXTERNAL_XATTR_MAX = 32767;
/** Per-xattr bookkeeping libcomposefs charges: twice the 4-byte entry header, minus one. */
const XATTR_ENTRY_CHARGE = 2 * 4 - 1;
/** The 12-byte xattr body header, charged with the first xattr. */
const XATTR_HEADER_CHARGE = 12;

export interface Xattr {
  key: string;
  value: Buffer;
}

export interface CfsNode {
  /** Name in the parent directory; null for the root (and for nodes not yet added). */
  name: string | null;
  parent: CfsNode | null;
  /** st_mode as a 32-bit value; the image keeps its low 16 bits. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  mtimeSec: bigint;
  mtimeNsec: number;
  /** Symlink target, or for a regular file its object path (`ab/cdef...`) in the object store. */
  payload: string | null;
  /** Inline content of a small regular file. */
  content: Buffer | null;
  /** fs-verity sha256 digest of an external regular file. */
  digest: Buffer | null;
  xattrs: Xattr[];
  /** libcomposefs's running charge of this inode's xattrs, checked against the budget. */
  xattrSize: number;
  /** Children sorted by name (byte order). */
  children: CfsNode[];
  /** For a hardlink entry: the node it links to. */
  linkTo: CfsNode | null;
}

export function newNode(mode = 0): CfsNode {
  return {
    name: null,
    parent: null,
    mode,
    nlink: 1,
    uid: 0,
    gid: 0,
    rdev: 0n,
    size: 0n,
    mtimeSec: 0n,
    mtimeNsec: 0,
    payload: null,
    content: null,
    digest: null,
    xattrs: [],
    xattrSize: 0,
    children: [],
    linkTo: null,
  };
}

export function fileType(node: CfsNode): number {
  return node.mode & S_IFMT;
}

export function isDir(node: CfsNode): boolean {
  return fileType(node) === S_IFDIR;
}

/** The node's path from the root, readable (bytes shown as UTF-8) for messages. */
export function nodePath(node: CfsNode): string {
  const parts: string[] = [];
  for (let n: CfsNode | null = node; n && n.name !== null; n = n.parent) parts.push(n.name);
  return displayBytes('/' + parts.reverse().join('/'));
}

/** A latin1 byte string shown as UTF-8 text. */
export function displayBytes(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

export function isValidFileType(mode: number): boolean {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFBLK:
    case S_IFCHR:
    case S_IFSOCK:
    case S_IFIFO:
      return true;
    default:
      return false;
  }
}

/** Binary search in the sorted children: the child, or where it would go. */
function findChild(parent: CfsNode, name: string): { child: CfsNode | null; pos: number } {
  const children = parent.children;
  let end = children.length;
  // Dumps list entries in sorted order, so the common case is "after the last one".
  if (end > 0) {
    const last = children[end - 1]!.name!;
    if (name === last) return { child: children[end - 1]!, pos: end - 1 };
    if (name > last) return { child: null, pos: end };
  }
  let start = 0;
  while (end > start) {
    const mid = (start + end) >> 1;
    const midName = children[mid]!.name!;
    if (name === midName) return { child: children[mid]!, pos: mid };
    if (name < midName) end = mid;
    else start = mid + 1;
  }
  return { child: null, pos: start };
}

export function lookupChild(parent: CfsNode, name: string): CfsNode | null {
  return findChild(parent, name).child;
}

/** Adds a named child, keeping the children sorted; refuses what libcomposefs refuses. */
export function addChild(parent: CfsNode, child: CfsNode, name: string): void {
  const where = () => nodePath(parent);
  if (!isDir(parent)) throw invalid(`${where()} is not a directory, cannot hold "${displayBytes(name)}"`);
  if (name.length === 0) throw invalid(`${where()}: empty file name`);
  if (name.length > MAX_NAME_LENGTH) {
    throw invalid(`${joinPath(where(), name)}: file name is ${name.length} bytes, the limit is ${MAX_NAME_LENGTH}`);
  }
  if (name.includes('\0')) throw invalid(`${where()}: file name holds a NUL byte`);
  if (child.name !== null) throw invalid(`${joinPath(where(), name)}: node already has a name`);
  const { child: existing, pos } = findChild(parent, name);
  if (existing) throw invalid(`${joinPath(where(), name)} already exists`);
  parent.children.splice(pos, 0, child);
  child.parent = parent;
  child.name = name;
}

function joinPath(dir: string, name: string): string {
  return (dir.endsWith('/') ? dir : dir + '/') + displayBytes(name);
}

function findXattr(node: CfsNode, key: string): number {
  return node.xattrs.findIndex((x) => x.key === key);
}

export function getXattr(node: CfsNode, key: string): Buffer | null {
  const i = findXattr(node, key);
  return i < 0 ? null : node.xattrs[i]!.value;
}

/** Removes an xattr the way libcomposefs does: the last one takes its slot. */
export function unsetXattr(node: CfsNode, key: string): boolean {
  const i = findXattr(node, key);
  if (i < 0) return false;
  const removed = node.xattrs[i]!;
  const last = node.xattrs.pop()!;
  if (i < node.xattrs.length) node.xattrs[i] = last;
  node.xattrSize = node.xattrs.length > 0 ? node.xattrSize - (XATTR_ENTRY_CHARGE + key.length + removed.value.length) : 0;
  return true;
}

/**
 * Sets an xattr (replacing one of the same key), charging it against the inode's budget:
 * libcomposefs keeps half of EROFS's 64 KiB xattr space for its own overlay xattrs.
 */
export function setXattr(node: CfsNode, key: string, value: Buffer): void {
  const label = () => `${nodePath(node)}: xattr "${displayBytes(key.slice(0, 64))}${key.length > 64 ? '...' : ''}"`;
  if (key.length === 0) throw invalid(`${nodePath(node)}: empty xattr name`);
  if (key.length > XATTR_NAME_MAX) throw invalid(`${label()}: name is ${key.length} bytes, the limit is ${XATTR_NAME_MAX}`);
  if (key.includes('\0')) throw invalid(`${label()}: name holds a NUL byte`);
  if (value.length > 0xffff) throw invalid(`${label()}: value is ${value.length} bytes, the limit is 65535`);
  unsetXattr(node, key);
  let charge = XATTR_ENTRY_CHARGE + key.length + value.length;
  if (node.xattrs.length === 0) charge += XATTR_HEADER_CHARGE;
  if (node.xattrSize + charge > EXTERNAL_XATTR_MAX) {
    throw invalid(`${label()}: the inode's xattrs would take more than ${EXTERNAL_XATTR_MAX} bytes`);
  }
  node.xattrs.push({ key, value });
  node.xattrSize += charge;
}

/** Follows hardlinks to the real inode; a loop is refused. */
export function followLinks(node: CfsNode): CfsNode {
  const start = node;
  while (node.linkTo) {
    node = node.linkTo;
    if (node === start) throw invalid(`${nodePath(start)}: hardlinks form a loop`);
  }
  return node;
}

/** Makes `node` a hardlink to `target` (target's nlink is not changed: the dump states it). */
export function makeHardlink(node: CfsNode, target: CfsNode): void {
  if (node === target) throw invalid(`${nodePath(node)}: hardlink to itself`);
  followLinks(target);
  node.linkTo = target;
}

export function invalid(message: string): OcitoolError {
  return new OcitoolError('ARCHIVE_INVALID', `composefs: ${message}`);
}
