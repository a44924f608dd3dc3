/**
 * Reader of the composefs dump format (composefs-dump(5)), as `mkcomposefs --from-file` reads it:
 * one line per path, space-separated fields
 *
 *   PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST [XATTR...]
 *
 * MODE is octal, with a leading `@` for a hardlink whose target path is PAYLOAD; MTIME is
 * `SEC.NSEC`; `-` is an absent optional field; strings use the escapes `\\ \n \r \t \xHH`; each
 * xattr is `KEY=VALUE`. A malformed line is refused with its line number. The result is the tree
 * of ./tree.ts, which the EROFS writer turns into an image.
 */
import {
  addChild,
  displayBytes,
  INLINE_CONTENT_MAX,
  invalid,
  isDir,
  isValidFileType,
  lookupChild,
  makeHardlink,
  newNode,
  nodePath,
  PATH_MAX,
  S_IFBLK,
  S_IFCHR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  setXattr,
  type CfsNode,
} from './tree.js';
import { OcitoolError } from '../errors.js';

const FIELD_COUNT = 11;
const U64_MAX = (1n << 64n) - 1n;

class LineError extends Error {}

/** Parses a whole dump (bytes). Blank lines are malformed, as in mkcomposefs; a last line may lack its newline. */
export function parseDump(input: Buffer): CfsNode {
  const state: DumpState = { root: null, fixups: [] };
  let start = 0;
  let lineNo = 0;
  while (start < input.length) {
    let end = input.indexOf(0x0a, start);
    if (end < 0) end = input.length;
    lineNo++;
    try {
      parseLine(state, input.toString('latin1', start, end));
    } catch (err) {
      if (err instanceof LineError) throw invalid(`dump line ${lineNo}: ${err.message}`);
      if (err instanceof OcitoolError) throw new OcitoolError(err.code, err.message.replace(/^composefs: /, `composefs: dump line ${lineNo}: `), { cause: err });
      throw err;
    }
    start = end + 1;
  }
  if (!state.root) throw invalid('dump holds no entries');
  resolveHardlinks(state);
  return state.root;
}

interface DumpState {
  root: CfsNode | null;
  fixups: Array<{ node: CfsNode; target: string | null }>;
}

function fail(message: string): never {
  throw new LineError(message);
}

function unescape(field: string): string {
  if (!field.includes('\\')) return field;
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    if (++i >= field.length) fail('no character after escape');
    const e = field[i]!;
    if (e === '\\') out += '\\';
    else if (e === 'n') out += '\n';
    else if (e === 'r') out += '\r';
    else if (e === 't') out += '\t';
    else if (e === 'x') {
      const hex = field.slice(i + 1, i + 3);
      if (hex.length < 2) fail('no hex characters after hex escape');
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail(`invalid hex escape \\x${displayBytes(hex)}`);
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else fail(`unsupported escape \\${displayBytes(e)}`);
  }
  return out;
}

function unescapeOptional(field: string): string | null {
  return field === '-' ? null : unescape(field);
}

/** strtoull as mkcomposefs uses it: optional sign, digits of the base, whole field; wraps like C. */
function parseInt64(field: string, base: 8 | 10, what: string): bigint {
  const m = /^[\t\n\v\f\r ]*([+-]?)([0-9]+)$/.exec(field);
  if (!m || (base === 8 && /[89]/.test(m[2]!))) fail(`invalid ${what} "${displayBytes(field)}"`);
  let v = 0n;
  const b = BigInt(base);
  for (const d of m[2]!) {
    v = v * b + BigInt(d.charCodeAt(0) - 48);
    if (v > U64_MAX) fail(`${what} "${field}" is out of range`);
  }
  return m[1] === '-' ? (U64_MAX + 1n - v) & U64_MAX : v;
}

function u32(v: bigint): number {
  return Number(v & 0xffffffffn);
}

function noNul(value: string, what: string): string {
  if (value.includes('\0')) fail(`${what} holds a NUL byte`);
  return value;
}

function parseLine(state: DumpState, line: string): void {
  if (line.includes('\0')) fail(`NUL character at position ${line.indexOf('\0')}`);
  // Split out the fixed fields; missing ones are empty, as mkcomposefs's split_at leaves them.
  const fields: string[] = [];
  let rest = line;
  for (let i = 0; i < FIELD_COUNT; i++) {
    const sp = rest.indexOf(' ');
    if (sp < 0) {
      fields.push(rest);
      rest = '';
    } else {
      fields.push(rest.slice(0, sp));
      rest = rest.slice(sp + 1);
    }
  }
  const [pathField, sizeField, modeField0, nlinkField, uidField, gidField, rdevField, mtimeField, payloadField, contentField, digestField] = fields as [
    string, string, string, string, string, string, string, string, string, string, string,
  ];
  const path = noNul(unescape(pathField), 'path');
  if (path.length === 0) fail('empty path');

  let modeField = modeField0;
  const isHardlink = modeField.startsWith('@');
  if (isHardlink) modeField = modeField.slice(1);
  const mode = u32(parseInt64(modeField, 8, 'mode'));
  if (!isValidFileType(mode)) fail(`${displayBytes(path)}: invalid mode ${mode.toString(8)} (no file type)`);
  const node = newNode(mode);
  addToTree(state, path, node);

  if (isHardlink) {
    if (isDir(node)) fail(`${displayBytes(path)}: directories can't be hardlinked`);
    const target = unescapeOptional(payloadField);
    state.fixups.push({ node, target: target === null ? null : noNul(target, 'hardlink target') });
    return;
  }

  const size = parseInt64(sizeField, 10, 'size');
  node.nlink = u32(parseInt64(nlinkField, 10, 'nlink'));
  node.uid = u32(parseInt64(uidField, 10, 'uid'));
  node.gid = u32(parseInt64(gidField, 10, 'gid'));
  const rdev = parseInt64(rdevField, 10, 'rdev');
  const dot = mtimeField.indexOf('.');
  const mtimeSec = parseInt64(dot < 0 ? mtimeField : mtimeField.slice(0, dot), 10, 'mtime');
  const mtimeNsec = parseInt64(dot < 0 ? '' : mtimeField.slice(dot + 1), 10, 'mtime nanoseconds');
  node.mtimeSec = BigInt.asIntN(64, mtimeSec);
  node.mtimeNsec = u32(mtimeNsec);

  const payload = unescapeOptional(payloadField);
  const content = unescapeOptional(contentField);
  if (content !== null && BigInt(content.length) !== size) {
    fail(`${displayBytes(path)}: content is ${content.length} bytes but the size field says ${size}`);
  }
  const digest = unescapeOptional(digestField);

  const type = mode & S_IFMT;
  if (type !== S_IFLNK) node.size = size;
  if (type === S_IFCHR || type === S_IFBLK) node.rdev = rdev;
  if (type === S_IFLNK) {
    if (!payload) fail(`${displayBytes(path)}: symlink without a target`);
    if (payload.length >= PATH_MAX) fail(`${displayBytes(path)}: symlink target is ${payload.length} bytes, the limit is ${PATH_MAX - 1}`);
    node.payload = noNul(payload, 'symlink target');
    node.size = BigInt(payload.length);
  } else {
    if (payload !== null) {
      if (payload.length >= PATH_MAX) fail(`${displayBytes(path)}: payload is ${payload.length} bytes, the limit is ${PATH_MAX - 1}`);
      node.payload = noNul(payload, 'payload');
    }
    if (content !== null) {
      if (content.length > INLINE_CONTENT_MAX) {
        fail(`${displayBytes(path)}: inline content is ${content.length} bytes, the limit is ${INLINE_CONTENT_MAX}`);
      }
      node.content = content.length > 0 ? Buffer.from(content, 'latin1') : null;
      node.size = BigInt(content.length);
    }
  }
  // An empty digest field (a short line) is absent, unless a regular file would point at it.
  if (digest !== null && (digest !== '' || type === S_IFREG)) {
    if (!/^[0-9a-fA-F]{64}$/.test(digest)) fail(`${displayBytes(path)}: digest "${displayBytes(digest)}" is not 64 hex digits`);
    node.digest = Buffer.from(digest, 'hex');
  }

  // mkcomposefs caps the xattr part of a line: each xattr is checked against all before it.
  if (rest.length > 0xffff) fail(`${displayBytes(path)}: too many xattrs`);
  while (rest.length > 0) {
    const sp = rest.indexOf(' ');
    const xattr = sp < 0 ? rest : rest.slice(0, sp);
    rest = sp < 0 ? '' : rest.slice(sp + 1);
    const eq = xattr.indexOf('=');
    if (eq < 0) fail(`${displayBytes(path)}: xattr without "="`);
    setXattr(node, unescape(xattr.slice(0, eq)), Buffer.from(unescape(xattr.slice(eq + 1)), 'latin1'));
  }
}

function addToTree(state: DumpState, path: string, node: CfsNode): void {
  if (path === '/') {
    if (!isDir(node)) fail('the root must be a directory');
    if (state.root) fail('a second root entry');
    state.root = node;
    return;
  }
  if (!state.root) fail(`${displayBytes(path)} comes before the root entry "/"`);
  const parts = path.split('/');
  // Leading and doubled slashes are skipped as mkcomposefs does; a trailing one leaves an empty name.
  let i = 0;
  while (i < parts.length - 1 && parts[i] === '') i++;
  let parent: CfsNode = state.root;
  for (; i < parts.length - 1; i++) {
    if (parts[i] === '') continue;
    const child = lookupChild(parent, parts[i]!);
    if (!child) fail(`parent directory missing for ${displayBytes(path)}`);
    parent = child;
  }
  const name = parts[parts.length - 1]!;
  if (!isDir(parent)) fail(`parent of ${displayBytes(path)} is not a directory`);
  if (name === '.' || name === '..') fail(`invalid . or .. in path ${displayBytes(path)}`);
  if (name === '') fail(`empty file name in path ${displayBytes(path)}`);
  addChild(parent, node, name);
}

function lookupPath(root: CfsNode, path: string): CfsNode | null {
  let node: CfsNode | null = root;
  for (const part of path.split('/')) {
    if (part === '') continue;
    node = lookupChild(node, part);
    if (!node) return null;
  }
  return node;
}

function resolveHardlinks(state: DumpState): void {
  const root = state.root!;
  // mkcomposefs resolves the fixups last line first.
  for (let i = state.fixups.length - 1; i >= 0; i--) {
    const { node, target } = state.fixups[i]!;
    if (target === null) throw invalid(`${nodePath(node)}: hardlink without a target path`);
    const targetNode = lookupPath(root, target);
    if (!targetNode) throw invalid(`${nodePath(node)}: hardlink target ${displayBytes(target)} does not exist`);
    if (targetNode === node) throw invalid(`${nodePath(node)}: self-referential hardlink`);
    if (isDir(targetNode)) throw invalid(`${nodePath(node)}: hardlink to the directory ${displayBytes(target)}`);
    makeHardlink(node, targetNode);
  }
}

