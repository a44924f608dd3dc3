/**
 * Tree → composefs EROFS image, byte for byte as libcomposefs (`mkcomposefs`) writes format
 * versions 0 and 1. The image is metadata only (file data lives in the object store, reached
 * through overlayfs redirect/metacopy xattrs), so it is built in memory.
 *
 * Layout: a 32-byte composefs header, zero padding to 1024, the 128-byte EROFS superblock, then
 * the inodes in breadth-first order (each 32-byte slot aligned, with xattrs and inline tail),
 * the shared xattr table, and block-aligned data blocks (directory blocks, file blocks that did
 * not fit inline, chunk index blocks). docs/composefs.md explains each rule.
 */
import { xxh32 } from './xxhash.js';
import {
  followLinks,
  getXattr,
  invalid,
  isDir,
  isValidFileType,
  lookupChild,
  addChild,
  newNode,
  nodePath,
  setXattr,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type CfsNode,
  type Xattr,
} from './tree.js';

export type FormatVersion = 0 | 1;

export interface WriteOptions {
  /** Format version to write (mkcomposefs --min-version). */
  version: FormatVersion;
  /**
   * Highest version allowed (mkcomposefs --max-version): a tree with whiteouts (char device 0:0)
   * is written as version 1 when this allows it, as mkcomposefs does by default (0..1).
   */
  maxVersion?: FormatVersion;
}

const BLKSIZ = 4096;
const BLKSIZ_BITS = 12;
const SLOTSIZE = 32;
const SUPER_OFFSET = 1024;
const SUPER_SIZE = 128;
const COMPACT_SIZE = 32;
const EXTENDED_SIZE = 64;
const DIRENT_SIZE = 12;
const XATTR_HEADER_SIZE = 12;
const XATTR_ENTRY_SIZE = 4;
const CHUNK_FORMAT_BLKBITS_MASK = 0x1f;
const MAX_NONINLINE_CHUNKS = 1024;
/** Shared xattrs one inode may reference (libcomposefs uses EROFS_XATTR_LONG_PREFIX, 0x80). */
const MAX_SHARED_PER_INODE = 0x80;

const COMPOSEFS_MAGIC = 0xd078629a;
const COMPOSEFS_HEADER_VERSION = 1;
const COMPOSEFS_FLAGS_HAS_ACL = 1;
const EROFS_SUPER_MAGIC_V1 = 0xe0f5e1e2;
const FEATURE_COMPAT_MTIME = 0x2;
const FEATURE_COMPAT_XATTR_FILTER = 0x4;
const XATTR_FILTER_SEED = 0x25bbe08f;

const LAYOUT_FLAT_PLAIN = 0;
const LAYOUT_FLAT_INLINE = 2;
const LAYOUT_CHUNK_BASED = 4;

const OVERLAY_PREFIX = 'trusted.overlay.';
const OVERLAY_ESCAPE_PREFIX = 'trusted.overlay.overlay.';
const XATTR_METACOPY = 'trusted.overlay.metacopy';
const XATTR_REDIRECT = 'trusted.overlay.redirect';
const XATTR_OPAQUE = 'trusted.overlay.opaque';
const XATTR_ESCAPED_WHITEOUT = 'trusted.overlay.overlay.whiteout';
const XATTR_ESCAPED_WHITEOUTS = 'trusted.overlay.overlay.whiteouts';
const XATTR_ESCAPED_OPAQUE = 'trusted.overlay.overlay.opaque';
const XATTR_USER_WHITEOUT = 'user.overlay.whiteout';
const XATTR_USER_WHITEOUTS = 'user.overlay.whiteouts';
const XATTR_USER_OPAQUE = 'user.overlay.opaque';
const FS_VERITY_HASH_ALG_SHA256 = 1;

/** Per-inode layout facts, computed before writing. */
interface Layout {
  inodeNum: number;
  compact: boolean;
  nBlocks: number;
  tailSize: number;
  pad: number;
  xattrSize: number;
  nid: number;
  /** Shared-table offset of each xattr (in the node's sorted order), or -1 for inline. */
  sharedOffsets: number[];
}

type Node = CfsNode & { layout?: Layout };

function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

/** EROFS file type of a node, for directory entries. */
function erofsFileType(node: CfsNode): number {
  switch (node.mode & S_IFMT) {
    case S_IFREG:
      return 1;
    case S_IFDIR:
      return 2;
    case S_IFCHR:
      return 3;
    case S_IFBLK:
      return 4;
    case 0o010000:
      return 5;
    case 0o140000:
      return 6;
    case S_IFLNK:
      return 7;
    default:
      return 0;
  }
}

/** EROFS xattr name index and the key suffix stored after it. */
function xattrIndex(key: string): { index: number; suffix: string } {
  const prefixes: Array<[string, number]> = [
    ['user.', 1],
    ['system.posix_acl_access', 2],
    ['system.posix_acl_default', 3],
    ['trusted.', 4],
    ['security.', 6],
  ];
  for (const [prefix, index] of prefixes) if (key.startsWith(prefix)) return { index, suffix: key.slice(prefix.length) };
  return { index: 0, suffix: key };
}

function xattrEntrySize(x: Xattr): number {
  return roundUp(XATTR_ENTRY_SIZE + xattrIndex(x.key).suffix.length + x.value.length, 4);
}

/** log2 chunk size for an external file: as few chunks as possible, between one block and 2^43. */
export function chunkBits(size: bigint): number {
  let bits = size <= 1n ? 0 : (size - 1n).toString(2).length;
  if (bits < BLKSIZ_BITS) bits = BLKSIZ_BITS;
  if (bits - BLKSIZ_BITS > CHUNK_FORMAT_BLKBITS_MASK) bits = CHUNK_FORMAT_BLKBITS_MASK + BLKSIZ_BITS;
  return bits;
}

export function chunkCount(size: bigint): number {
  const chunk = 1n << BigInt(chunkBits(size));
  return Number((size + chunk - 1n) / chunk);
}

/** Largest external file: its chunk index must fit one block (1024 chunks of 2^43 bytes). */
export const MAX_EXTERNAL_FILE_SIZE = BigInt(MAX_NONINLINE_CHUNKS) << BigInt(CHUNK_FORMAT_BLKBITS_MASK + BLKSIZ_BITS);

/** Writes the composefs EROFS image of the tree rooted at `root` (not modified). */
export function writeErofs(root: CfsNode, options: WriteOptions): Buffer {
  if (!isDir(root)) throw invalid('the root is not a directory');
  let version: number = options.version;
  const maxVersion = Math.max(options.maxVersion ?? version, version);
  // Version 1 changed how whiteouts are marked: a tree holding one is written as 1 where allowed.
  if (version < 1 && maxVersion >= 1 && hasWhiteout(root)) version = 1;

  const tree = cloneTree(root);
  rewriteForErofs(tree, tree, version);
  setXattr(tree, XATTR_OPAQUE, Buffer.from('y'));
  addOverlayWhiteouts(tree);

  const { nodes, minMtime, hasAcl } = computeTree(tree);
  const shared = computeSharedXattrs(nodes);
  const { inodesEnd, nDataBlocks } = computeInodes(nodes, minMtime);

  const dataBlockStart = roundUp(inodesEnd + shared.size, BLKSIZ);
  const total = dataBlockStart + nDataBlocks * BLKSIZ;
  const out = new ImageBuffer(total);

  // composefs header, then the EROFS superblock at 1024.
  out.u32(COMPOSEFS_MAGIC);
  out.u32(COMPOSEFS_HEADER_VERSION);
  out.u32(hasAcl ? COMPOSEFS_FLAGS_HAS_ACL : 0);
  out.u32(version);
  out.pos = SUPER_OFFSET;
  const sb = out.pos;
  out.buf.writeUInt32LE(EROFS_SUPER_MAGIC_V1, sb);
  out.buf.writeUInt32LE(FEATURE_COMPAT_MTIME | FEATURE_COMPAT_XATTR_FILTER, sb + 8);
  out.buf.writeUInt8(BLKSIZ_BITS, sb + 12);
  out.buf.writeUInt16LE(nodes[0]!.layout!.nid, sb + 14);
  out.buf.writeBigUInt64LE(BigInt(nodes.length), sb + 16);
  out.buf.writeBigUInt64LE(BigInt.asUintN(64, minMtime.sec), sb + 24);
  out.buf.writeUInt32LE(minMtime.nsec, sb + 32);
  out.buf.writeUInt32LE(dataBlockStart / BLKSIZ + nDataBlocks, sb + 36);
  out.buf.writeUInt32LE(Math.floor((SUPER_OFFSET + SUPER_SIZE) / BLKSIZ), sb + 40);
  out.buf.writeUInt32LE(Math.floor(inodesEnd / BLKSIZ), sb + 44);
  out.pos = SUPER_OFFSET + SUPER_SIZE;

  let currentEnd = dataBlockStart;
  for (const node of nodes) currentEnd = writeInode(out, node, currentEnd, inodesEnd);
  out.pos = roundUp(out.pos, SLOTSIZE);
  if (out.pos !== inodesEnd) throw new Error(`composefs writer: inode table ends at ${out.pos}, planned ${inodesEnd}`);
  for (const x of shared.table) writeXattrEntry(out, x);
  out.pos = roundUp(out.pos, BLKSIZ);
  if (out.pos !== dataBlockStart) throw new Error('composefs writer: shared xattr table overran its plan');
  for (const node of nodes) writeDataBlocks(out, node);
  if (out.pos !== total || currentEnd !== total) throw new Error(`composefs writer: data blocks end at ${out.pos}, planned ${total}`);
  return out.buf;
}

class ImageBuffer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  u8(v: number): void {
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
  }
  u16(v: number): void {
    this.buf.writeUInt16LE(v & 0xffff, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  u64(v: bigint): void {
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
  }
  bytes(b: Buffer): void {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  align(to: number): void {
    this.pos = roundUp(this.pos, to);
  }
}

function hasWhiteout(node: CfsNode): boolean {
  if ((node.mode & S_IFMT) === S_IFCHR && node.rdev === 0n) return true;
  return node.children.some((c) => c.linkTo === null && hasWhiteout(c));
}

/** Deep copy; hardlinks point into the copy. The copy's xattr budget restarts at zero, as in libcomposefs. */
function cloneTree(root: CfsNode): Node {
  const map = new Map<CfsNode, Node>();
  const copy = (node: CfsNode, parent: Node | null): Node => {
    const n: Node = {
      ...node,
      parent,
      xattrs: node.xattrs.map((x) => ({ key: x.key, value: x.value })),
      xattrSize: 0,
      children: [],
    };
    map.set(node, n);
    n.children = node.children.map((c) => copy(c, n));
    return n;
  };
  const tree = copy(root, null);
  for (const [, n] of map) if (n.linkTo) n.linkTo = map.get(n.linkTo) ?? n.linkTo;
  return tree;
}

function validateNode(node: CfsNode): void {
  if (node.linkTo === null && !isValidFileType(node.mode)) throw invalid(`${nodePath(node)}: invalid mode ${node.mode.toString(8)}`);
  if ((node.mode & S_IFMT) === S_IFREG && node.size > 0n && node.content === null && chunkCount(node.size) > MAX_NONINLINE_CHUNKS) {
    throw invalid(`${nodePath(node)}: file size ${node.size} is over the largest composefs can describe (${MAX_EXTERNAL_FILE_SIZE})`);
  }
  if ((node.mode & S_IFMT) === S_IFLNK && !node.payload) throw invalid(`${nodePath(node)}: symlink without a target`);
}

/** Escapes user overlay xattrs, adds metacopy/redirect to external files, escapes whiteouts, adds . and .. */
function rewriteForErofs(node: Node, parent: Node, version: number): void {
  validateNode(node);
  for (const x of node.xattrs) if (x.key.startsWith(OVERLAY_PREFIX)) x.key = OVERLAY_ESCAPE_PREFIX + x.key.slice(OVERLAY_PREFIX.length);
  const type = node.mode & S_IFMT;
  if (type === S_IFREG && node.size > 0n && node.content === null) {
    const metacopy = node.digest ? Buffer.concat([Buffer.from([0, 36, 0, FS_VERITY_HASH_ALG_SHA256]), node.digest]) : Buffer.alloc(0);
    setXattr(node, XATTR_METACOPY, metacopy);
    if (node.payload) setXattr(node, XATTR_REDIRECT, Buffer.from('/' + node.payload, 'latin1'));
  }
  if (type === S_IFCHR && node.rdev === 0n) {
    // A whiteout in the tree becomes a regular file marked with escaped whiteout xattrs, so that
    // overlayfs shows it as the whiteout it is instead of acting on it.
    const dir = node.parent!;
    node.size = 0n;
    node.mode = S_IFREG | (node.mode & ~S_IFMT & 0xffffffff);
    node.mode >>>= 0;
    setXattr(node, XATTR_ESCAPED_WHITEOUT, Buffer.alloc(0));
    setXattr(node, XATTR_USER_WHITEOUT, Buffer.alloc(0));
    setXattr(dir, XATTR_ESCAPED_WHITEOUTS, Buffer.alloc(0));
    setXattr(dir, XATTR_USER_WHITEOUTS, Buffer.alloc(0));
    if (version >= 1) {
      setXattr(dir, XATTR_ESCAPED_OPAQUE, Buffer.from('x'));
      setXattr(dir, XATTR_USER_OPAQUE, Buffer.from('x'));
    }
  }
  if (isDir(node)) {
    if (!lookupChild(node, '.')) addLink(node, '.', node);
    if (!lookupChild(node, '..')) addLink(node, '..', parent);
    for (const child of node.children) if (child.linkTo === null) rewriteForErofs(child as Node, node, version);
  }
}

function addLink(dir: Node, name: string, target: Node): void {
  const link = newNode(0);
  link.linkTo = target;
  addChild(dir, link, name);
}

/** The 256 overlay whiteout stubs 00..ff in the root, for overlayfs's data-only layer lookups. */
function addOverlayWhiteouts(root: Node): void {
  const selinux = getXattr(root, 'security.selinux');
  for (let i = 0; i < 256; i++) {
    const name = i.toString(16).padStart(2, '0');
    if (lookupChild(root, name)) continue;
    const stub = newNode(S_IFCHR | 0o644);
    stub.uid = root.uid;
    stub.gid = root.gid;
    stub.mtimeSec = root.mtimeSec;
    stub.mtimeNsec = root.mtimeNsec;
    if (selinux) setXattr(stub, 'security.selinux', selinux);
    addChild(root, stub, name);
  }
}

function compareNsec(aSec: bigint, aNsec: number, bSec: bigint, bNsec: number): number {
  if (aSec !== bSec) return aSec < bSec ? -1 : 1;
  return aNsec - bNsec;
}

/** Breadth-first inode order, directory link counts, sorted xattrs, the minimal mtime. */
function computeTree(root: Node): { nodes: Node[]; minMtime: { sec: bigint; nsec: number }; hasAcl: boolean } {
  const nodes: Node[] = [root];
  const inTree = new Set<CfsNode>([root]);
  const minMtime = { sec: root.mtimeSec, nsec: root.mtimeNsec };
  let hasAcl = false;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    if (isDir(node)) node.nlink = 2 + node.children.filter((c) => (c.mode & S_IFMT) === S_IFDIR).length;
    node.xattrs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (compareNsec(node.mtimeSec, node.mtimeNsec, minMtime.sec, minMtime.nsec) < 0) {
      minMtime.sec = node.mtimeSec;
      minMtime.nsec = node.mtimeNsec;
    }
    if (node.xattrs.some((x) => x.key === 'system.posix_acl_access' || x.key === 'system.posix_acl_default')) hasAcl = true;
    node.layout = { inodeNum: i, compact: false, nBlocks: 0, tailSize: 0, pad: 0, xattrSize: 0, nid: 0, sharedOffsets: [] };
    for (const child of node.children) {
      if (child.linkTo !== null) continue;
      nodes.push(child as Node);
      inTree.add(child);
    }
  }
  for (const node of nodes) {
    for (const child of node.children) {
      if (child.linkTo !== null && !inTree.has(followLinks(child))) throw invalid(`${nodePath(child)}: hardlink to an inode outside the tree`);
    }
  }
  return { nodes, minMtime, hasAcl };
}

function xattrId(x: Xattr): string {
  return x.key + '\0' + x.value.toString('latin1');
}

/** Xattrs used by more than one inode go to the shared table, in libcomposefs's order. */
function computeSharedXattrs(nodes: Node[]): { table: Xattr[]; size: number } {
  const counts = new Map<string, { xattr: Xattr; count: number; offset: number }>();
  for (const node of nodes) {
    for (const x of node.xattrs) {
      const id = xattrId(x);
      const entry = counts.get(id);
      if (entry) entry.count++;
      else counts.set(id, { xattr: x, count: 1, offset: -1 });
    }
  }
  // Descending by key, then by value length, then by value bytes.
  const sorted = [...counts.values()].sort((a, b) => {
    if (a.xattr.key !== b.xattr.key) return a.xattr.key < b.xattr.key ? 1 : -1;
    if (a.xattr.value.length !== b.xattr.value.length) return b.xattr.value.length - a.xattr.value.length;
    return Buffer.compare(b.xattr.value, a.xattr.value);
  });
  const table: Xattr[] = [];
  let offset = 0;
  for (const entry of sorted) {
    if (entry.count <= 1) continue;
    entry.offset = offset;
    table.push(entry.xattr);
    offset += xattrEntrySize(entry.xattr);
  }
  for (const node of nodes) {
    let nShared = 0;
    node.layout!.sharedOffsets = node.xattrs.map((x) => {
      const entry = counts.get(xattrId(x))!;
      if (entry.offset >= 0 && nShared < MAX_SHARED_PER_INODE) {
        nShared++;
        return entry.offset;
      }
      return -1;
    });
  }
  return { table, size: offset };
}

function xattrBodySize(node: Node): { nShared: number; size: number } {
  const offsets = node.layout!.sharedOffsets;
  let nShared = 0;
  let unshared = 0;
  node.xattrs.forEach((x, i) => {
    if (offsets[i]! >= 0) nShared++;
    else unshared += xattrEntrySize(x);
  });
  if (nShared === 0 && unshared === 0) return { nShared, size: 0 };
  return { nShared, size: roundUp(XATTR_HEADER_SIZE + nShared * XATTR_ENTRY_SIZE + unshared, 4) };
}

function dirSize(node: Node): { nBlocks: number; tail: number } {
  let nBlocks = 0;
  let block = 0;
  for (const child of node.children) {
    const len = DIRENT_SIZE + child.name!.length;
    if (block + len > BLKSIZ) {
      nBlocks++;
      block = 0;
    }
    block += len;
  }
  // Never inline more than half a block.
  if (block > BLKSIZ / 2) {
    nBlocks++;
    block = 0;
  }
  return { nBlocks, tail: block };
}

function sizeOfInodeData(node: Node): void {
  const l = node.layout!;
  const type = node.mode & S_IFMT;
  l.nBlocks = 0;
  l.tailSize = 0;
  if (type === S_IFDIR) {
    const d = dirSize(node);
    l.nBlocks = d.nBlocks;
    l.tailSize = d.tail;
  } else if (type === S_IFLNK) {
    l.tailSize = node.payload!.length;
  } else if (type === S_IFREG && node.size > 0n) {
    if (node.content) {
      const size = node.content.length;
      l.nBlocks = Math.floor(size / BLKSIZ);
      l.tailSize = size % BLKSIZ;
      if (l.tailSize > BLKSIZ / 2) {
        l.nBlocks++;
        l.tailSize = 0;
      }
    } else {
      l.tailSize = chunkCount(node.size) * 4;
    }
  }
}

function fitsCompact(node: Node, minMtime: { sec: bigint; nsec: number }): boolean {
  const l = node.layout!;
  if (node.mtimeSec !== minMtime.sec || node.mtimeNsec !== minMtime.nsec) return false;
  if (node.nlink > 0xffff || node.uid > 0xffff || node.gid > 0xffff) return false;
  const size = isDir(node) ? BigInt(l.nBlocks * BLKSIZ + l.tailSize) : node.size;
  return size <= 0xffffffffn;
}

/** Padding before an inode so that its inline tail does not cross a block boundary. */
function paddingForTail(node: Node, pos: number, inodeSize: number, xattrSize: number): number {
  const l = node.layout!;
  const nonTail = inodeSize + xattrSize;
  const total = nonTail + l.tailSize;
  if ((node.mode & S_IFMT) === S_IFLNK) {
    // The kernel wants a symlink's inode and target in one block; a target that cannot fit goes to a data block.
    const posBlock = Math.floor(pos / BLKSIZ);
    const endBlock = Math.floor((pos + total - 1) / BLKSIZ);
    if (Math.floor(total / BLKSIZ) > 0) {
      l.nBlocks++;
      l.tailSize = 0;
    }
    return posBlock !== endBlock ? roundUp(pos, BLKSIZ) - pos : 0;
  }
  let remainder = BLKSIZ - ((pos + nonTail) % BLKSIZ);
  if (remainder < l.tailSize) {
    const extra = roundUp(remainder, SLOTSIZE);
    remainder = BLKSIZ - ((pos + nonTail + extra) % BLKSIZ);
    if (l.tailSize <= remainder) return extra;
    l.nBlocks++;
    l.tailSize = 0;
    return roundUp(pos, BLKSIZ) - pos;
  }
  return 0;
}

function computeInodes(nodes: Node[], minMtime: { sec: bigint; nsec: number }): { inodesEnd: number; nDataBlocks: number } {
  let pos = SUPER_OFFSET + SUPER_SIZE;
  const metaStart = pos - (pos % BLKSIZ);
  let nDataBlocks = 0;
  for (const node of nodes) {
    const l = node.layout!;
    sizeOfInodeData(node);
    l.compact = fitsCompact(node, minMtime);
    const inodeSize = l.compact ? COMPACT_SIZE : EXTENDED_SIZE;
    const xs = xattrBodySize(node);
    l.xattrSize = xs.size;
    if ((xs.size - XATTR_HEADER_SIZE) / 4 + 1 > 0xffff) throw invalid(`${nodePath(node)}: xattrs too large for an EROFS inode`);
    const ppos = pos;
    pos = roundUp(pos, SLOTSIZE);
    l.pad = pos - ppos;
    const extra = paddingForTail(node, pos, inodeSize, xs.size);
    l.pad += extra;
    pos += extra;
    nDataBlocks += l.nBlocks;
    l.nid = (pos - metaStart) / SLOTSIZE;
    pos += inodeSize + xs.size + l.tailSize;
  }
  if (nodes[0]!.layout!.nid >= 0xffff) throw invalid('the root inode lies too far into the image');
  return { inodesEnd: roundUp(pos, SLOTSIZE), nDataBlocks };
}

function writeXattrEntry(out: ImageBuffer, x: Xattr): void {
  const { index, suffix } = xattrIndex(x.key);
  out.u8(suffix.length);
  out.u8(index);
  out.u16(x.value.length);
  out.bytes(Buffer.from(suffix, 'latin1'));
  out.bytes(x.value);
  out.align(4);
}

function xattrFilter(node: Node): number {
  let filter = 0;
  for (const x of node.xattrs) {
    const { index, suffix } = xattrIndex(x.key);
    const bit = xxh32(Buffer.from(suffix, 'latin1'), (XATTR_FILTER_SEED + index) >>> 0) & 31;
    filter |= 1 << bit;
  }
  return ~filter >>> 0;
}

/** Writes one chunk of directory entries: headers, then names. */
function writeDirents(out: ImageBuffer, children: CfsNode[]): void {
  let nameoff = children.length * DIRENT_SIZE;
  for (const child of children) {
    const target = followLinks(child) as Node;
    out.u64(BigInt(target.layout!.nid));
    out.u16(nameoff);
    out.u8(erofsFileType(target));
    out.u8(0);
    nameoff += child.name!.length;
  }
  for (const child of children) out.bytes(Buffer.from(child.name!, 'latin1'));
}

/** Splits a directory's entries into full blocks and the inline tail, as dirSize decided. */
function direntChunks(node: Node): { blocks: CfsNode[][]; tail: CfsNode[] } {
  const blocks: CfsNode[][] = [];
  let current: CfsNode[] = [];
  let size = 0;
  for (const child of node.children) {
    const len = DIRENT_SIZE + child.name!.length;
    if (size + len > BLKSIZ) {
      blocks.push(current);
      current = [];
      size = 0;
    }
    current.push(child);
    size += len;
  }
  if (blocks.length < node.layout!.nBlocks) {
    blocks.push(current);
    current = [];
  }
  return { blocks, tail: current };
}

function writeInode(out: ImageBuffer, node: Node, currentEnd: number, inodesEnd: number): number {
  const l = node.layout!;
  out.pos += l.pad;
  const type = node.mode & S_IFMT;
  const { nShared, size: xattrSize } = xattrBodySize(node);
  const xattrIcount = xattrSize === 0 ? 0 : (xattrSize - XATTR_HEADER_SIZE) / 4 + 1;
  let layout = l.tailSize > 0 ? LAYOUT_FLAT_INLINE : LAYOUT_FLAT_PLAIN;
  let size: bigint;
  let chunkFormat = -1;
  let chunks = 0;
  if (type === S_IFDIR) size = BigInt(l.nBlocks * BLKSIZ + l.tailSize);
  else if (type === S_IFREG) {
    size = node.size;
    if (size > 0n && node.content === null) {
      const bits = chunkBits(size);
      chunks = chunkCount(size);
      layout = LAYOUT_CHUNK_BASED;
      chunkFormat = bits - BLKSIZ_BITS;
    }
  } else if (type === S_IFLNK) size = l.nBlocks === 0 ? BigInt(l.tailSize) : node.size;
  else size = 0n;

  let iu = 0;
  if (type === S_IFDIR || type === S_IFREG || type === S_IFLNK) {
    if (l.nBlocks > 0) {
      iu = currentEnd / BLKSIZ;
      currentEnd += BLKSIZ * l.nBlocks;
    }
    // The chunk format shares the union with the block address: it replaces the low 16 bits.
    if (chunkFormat >= 0) iu = ((iu & 0xffff0000) | chunkFormat) >>> 0;
  } else if (type === S_IFCHR || type === S_IFBLK) iu = Number(node.rdev & 0xffffffffn);

  const format = (layout << 1) | (l.compact ? 0 : 1);
  if (l.compact) {
    out.u16(format);
    out.u16(xattrIcount);
    out.u16(node.mode);
    out.u16(node.nlink);
    out.u32(Number(size));
    out.u32(0);
    out.u32(iu);
    out.u32(l.inodeNum);
    out.u16(node.uid);
    out.u16(node.gid);
    out.u32(0);
  } else {
    out.u16(format);
    out.u16(xattrIcount);
    out.u16(node.mode);
    out.u16(0);
    out.u64(size);
    out.u32(iu);
    out.u32(l.inodeNum);
    out.u32(node.uid);
    out.u32(node.gid);
    out.u64(node.mtimeSec);
    out.u32(node.mtimeNsec);
    out.u32(node.nlink);
    out.pos += 16;
  }

  if (xattrSize > 0) {
    const start = out.pos;
    out.u32(xattrFilter(node));
    out.u8(nShared);
    out.pos += 7;
    node.xattrs.forEach((_, i) => {
      const off = l.sharedOffsets[i]!;
      if (off >= 0) out.u32(((inodesEnd % BLKSIZ) + off) / 4);
    });
    node.xattrs.forEach((x, i) => {
      if (l.sharedOffsets[i]! < 0) writeXattrEntry(out, x);
    });
    if (out.pos - start !== xattrSize) throw new Error(`composefs writer: ${nodePath(node)}: xattr body size mismatch`);
  }

  if (type === S_IFDIR) {
    const { tail } = direntChunks(node);
    if (l.tailSize > 0) writeDirents(out, tail);
  } else if (type === S_IFLNK) {
    if (l.nBlocks === 0) out.bytes(Buffer.from(node.payload!, 'latin1'));
  } else if (type === S_IFREG && l.tailSize > 0) {
    if (node.content) out.bytes(node.content.subarray(node.content.length - l.tailSize));
    else for (let i = 0; i < chunks; i++) out.u32(0xffffffff);
  }
  return currentEnd;
}

function writeDataBlocks(out: ImageBuffer, node: Node): void {
  const l = node.layout!;
  const type = node.mode & S_IFMT;
  if (type === S_IFDIR) {
    for (const block of direntChunks(node).blocks) {
      writeDirents(out, block);
      out.align(BLKSIZ);
    }
    return;
  }
  if (l.nBlocks === 0) return;
  if (type === S_IFREG && node.content === null) {
    // An external file whose chunk index did not fit inline: one block of null chunk addresses.
    for (let i = 0; i < MAX_NONINLINE_CHUNKS; i++) out.u32(0xffffffff);
    return;
  }
  const data = type === S_IFLNK ? Buffer.from(node.payload!, 'latin1') : type === S_IFREG ? node.content! : null;
  if (!data) return;
  for (let i = 0; i < l.nBlocks; i++) {
    out.bytes(data.subarray(i * BLKSIZ, Math.min(data.length, (i + 1) * BLKSIZ)));
    out.align(BLKSIZ);
  }
}
