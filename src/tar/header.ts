/**
 * The one tar header parser. Every reader of tars goes through it: the layer splitter (raw blocks,
 * byte-exact reassembly), the random-access index of layout and docker archives (plain files and
 * decompressed spools alike, seeking past data) and the rootfs check. `decodeHeader` reads one
 * ustar/GNU block; `TarHeaderReader` applies what comes before an entry: PAX extended (`x`) and
 * global (`g`) records and GNU long names (`L`, `K`), so `path`, `linkpath` and `size` mean the
 * same thing everywhere. The rules follow Go's archive/tar (docker, containerd, umoci, skopeo),
 * which writes a PAX `size` with a ustar size field of 0 for files over 8 GiB.
 */
import { OcitoolError } from '../errors.js';

export const TAR_BLOCK = 512;
/** PAX and GNU long-name records are read whole; a bigger one is an attack or a broken tar. */
export const TAR_META_MAX = 1024 * 1024;
// Go's archive/tar (so docker and containerd) reads no data for these types, whatever size says.
const HEADER_ONLY_TYPES = new Set(['1', '2', '3', '4', '5', '6']);
export const REGULAR_TYPES = new Set(['0', '\0', '7']);
export const META_TYPES = new Set(['x', 'g', 'L', 'K']);

export interface RawHeader {
  type: string;
  name: string;
  linkname: string;
  /** Data bytes that follow the header (0 for header-only types), before any PAX override. */
  size: number;
}

/** An entry's header with the PAX and GNU records before it applied. */
export interface TarEntryHeader {
  /** The typeflag character ('0', '5', '2', ...). */
  type: string;
  name: string;
  linkname: string;
  /** Data bytes that follow the header block (0 for header-only types, whatever the records say). */
  size: number;
  /** Byte offset of the entry's own header block (after any PAX/GNU records). */
  headerOffset: number;
  /** Permission bits (with setuid, setgid, sticky), owners, mtime: PAX records win over the header. */
  mode: number;
  uid: number;
  gid: number;
  mtime: { sec: number; nsec: number };
  devMajor: number;
  devMinor: number;
  /** PAX `SCHILY.xattr.NAME` records: extended attributes, values byte for byte. */
  xattrs: Map<string, Buffer>;
}

/** What a header block asks of its reader: read `size` bytes of records for `applyMeta`, or an entry. */
export type HeaderStep = { kind: 'meta'; type: string; size: number } | { kind: 'entry'; entry: TarEntryHeader };

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

export function decodeHeader(block: Buffer, what: string, offset: number): RawHeader {
  const stored = parseOctal(block.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  if (stored !== sum) throw new OcitoolError('TAR_INVALID', `${what}: not a tar (bad header checksum at byte ${offset})`);
  const type = String.fromCharCode(block[156]!);
  const size = HEADER_ONLY_TYPES.has(type) ? 0 : parseSize(block.subarray(124, 136), what);
  let name = readString(block, 0, 100);
  const magic = block.subarray(257, 263).toString('latin1');
  if (magic === 'ustar\0') {
    const prefix = readString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  if (META_TYPES.has(type) && size > TAR_META_MAX) {
    throw new OcitoolError('TAR_INVALID', `${what}: ${type === 'x' || type === 'g' ? 'PAX' : 'GNU long-name'} header of ${size} bytes at byte ${offset} is over the ${TAR_META_MAX}-byte limit`);
  }
  return { type, name, linkname: readString(block, 157, 100), size };
}

export function isHeaderOnly(type: string): boolean {
  return HEADER_ONLY_TYPES.has(type);
}

/**
 * Turns the header blocks of one tar, in order, into entries. Feed every non-zero header block to
 * `next`; when it answers `meta`, read that many data bytes and give them to `applyMeta`.
 *
 * - `x` records apply to the next entry only, `g` records to every entry after them (POSIX; a
 *   local record overrides a global one, an empty value unsets it).
 * - PAX `size` replaces the header's size field whatever that field says (Go writes 0 there for
 *   files over 8 GiB); header-only types (links, folders, devices) still have no data.
 * - GNU `L`/`K` give the next entry's name/link name; a PAX `path`/`linkpath` wins over them.
 */
export class TarHeaderReader {
  private global = new Map<string, string>();
  private local: Map<string, string> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;

  constructor(private readonly what: string) {}

  /** True when records were read that no entry has used yet. */
  get pending(): boolean {
    return this.local !== undefined || this.longName !== undefined || this.longLink !== undefined;
  }

  next(block: Buffer, offset: number): HeaderStep {
    const raw = decodeHeader(block, this.what, offset);
    if (META_TYPES.has(raw.type)) return { kind: 'meta', type: raw.type, size: raw.size };
    const record = (key: string): string | undefined => {
      const value = this.local?.has(key) ? this.local.get(key) : this.global.get(key);
      return value === '' ? undefined : value;
    };
    const sizeText = record('size');
    let size = raw.size;
    if (sizeText !== undefined && !isHeaderOnly(raw.type)) {
      if (!/^[0-9]+$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
        throw new OcitoolError('TAR_INVALID', `${this.what}: bad PAX size "${sizeText.slice(0, 40)}" for the entry at byte ${offset}`);
      }
      size = Number(sizeText);
    }
    const xattrs = new Map<string, Buffer>();
    for (const source of [this.global, this.local ?? new Map<string, string>()]) {
      for (const [key, value] of source) {
        if (!key.startsWith(XATTR_PREFIX)) continue;
        if (value === '') xattrs.delete(key.slice(XATTR_PREFIX.length));
        else xattrs.set(key.slice(XATTR_PREFIX.length), Buffer.from(value, 'latin1'));
      }
    }
    const paxNumber = (key: string, fallback: number): number => {
      const text = record(key);
      if (text === undefined) return fallback;
      if (!/^[0-9]+$/.test(text)) throw new OcitoolError('TAR_INVALID', `${this.what}: bad PAX ${key} "${text.slice(0, 40)}" for the entry at byte ${offset}`);
      return Number(text);
    };
    const entry: TarEntryHeader = {
      type: raw.type,
      name: record('path') ?? this.longName ?? raw.name,
      linkname: record('linkpath') ?? this.longLink ?? raw.linkname,
      size,
      headerOffset: offset,
      mode: parseNumber(block.subarray(100, 108)) & 0o7777,
      uid: paxNumber('uid', parseNumber(block.subarray(108, 116))),
      gid: paxNumber('gid', parseNumber(block.subarray(116, 124))),
      mtime: paxTime(record('mtime'), parseNumber(block.subarray(136, 148)), this.what, offset),
      devMajor: parseNumber(block.subarray(329, 337)),
      devMinor: parseNumber(block.subarray(337, 345)),
      xattrs,
    };
    this.local = this.longName = this.longLink = undefined;
    return { kind: 'entry', entry };
  }

  /** The data of a `meta` step. */
  applyMeta(type: string, data: Buffer, offset: number): void {
    if (type === 'L') this.longName = cString(data);
    else if (type === 'K') this.longLink = cString(data);
    else if (type === 'x') this.local = new Map([...(this.local ?? []), ...decodePax(data, this.what, offset)]);
    else if (type === 'g') {
      for (const [key, value] of decodePax(data, this.what, offset)) {
        if (value === '') this.global.delete(key);
        else this.global.set(key, value);
      }
    }
  }
}

/** PAX keys of extended attributes; their values are kept as bytes (latin1 strings). */
const XATTR_PREFIX = 'SCHILY.xattr.';

/** A numeric header field: octal text, or base-256 (GNU) when the high bit is set. */
function parseNumber(field: Buffer): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  return parseOctal(field);
}

/** PAX `mtime` (seconds with an optional fraction), else the header's seconds. */
function paxTime(text: string | undefined, headerSec: number, what: string, offset: number): { sec: number; nsec: number } {
  if (text === undefined) return { sec: headerSec, nsec: 0 };
  const m = /^(-?[0-9]+)(?:\.([0-9]+))?$/.exec(text);
  if (!m) throw new OcitoolError('TAR_INVALID', `${what}: bad PAX mtime "${text.slice(0, 40)}" for the entry at byte ${offset}`);
  return { sec: Number(m[1]), nsec: Number(((m[2] ?? '') + '000000000').slice(0, 9)) };
}

function cString(data: Buffer): string {
  const end = data.indexOf(0);
  return data.subarray(0, end < 0 ? data.length : end).toString('utf8');
}

function parseOctal(field: Buffer): number {
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** Size field: octal text, or base-256 when the high bit of the first byte is set (GNU, large files). */
function parseSize(field: Buffer, what: string): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    if (!Number.isSafeInteger(value)) throw new OcitoolError('TAR_INVALID', `${what}: tar entry size too large`);
    return value;
  }
  const n = parseOctal(field);
  if (!Number.isSafeInteger(n) || n < 0) throw new OcitoolError('TAR_INVALID', `${what}: bad tar size field`);
  return n;
}

function readString(h: Buffer, start: number, length: number): string {
  const field = h.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
}

/** PAX records (`<length> <key>=<value>\n`); a malformed record is an error, as in Go. */
export function decodePax(data: Buffer, what = 'tar', offset = 0): Map<string, string> {
  const records = new Map<string, string>();
  const bad = (why: string) => new OcitoolError('TAR_INVALID', `${what}: bad PAX record at byte ${offset} (${why})`);
  let at = 0;
  // Records may be followed by NUL padding (some writers pad the record data).
  while (at < data.length && data[at] !== 0) {
    const space = data.indexOf(0x20, at);
    if (space < 0 || space - at > 20) throw bad('no length');
    const lengthText = data.subarray(at, space).toString('latin1');
    const length = /^[0-9]+$/.test(lengthText) ? Number(lengthText) : NaN;
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > data.length) throw bad(`length "${lengthText}"`);
    if (data[at + length - 1] !== 0x0a) throw bad('no newline');
    const bytes = data.subarray(space + 1, at + length - 1);
    const eq = bytes.indexOf(0x3d);
    if (eq <= 0) throw bad('no key');
    const key = bytes.subarray(0, eq).toString('utf8');
    // Values are UTF-8 text, except extended attributes: binary (security.capability), kept as bytes.
    records.set(key, bytes.subarray(eq + 1).toString(key.startsWith(XATTR_PREFIX) ? 'latin1' : 'utf8'));
    at += length;
  }
  return records;
}

export function paddingAfter(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}
