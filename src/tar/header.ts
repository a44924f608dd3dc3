/**
 * Raw ustar/GNU/PAX header decoding for the two places that must see tar blocks as they are: the
 * layer splitter (byte-exact reassembly) and the random-access tar index (seeking past data
 * without reading it). tar-stream parses entries but hides raw blocks and offsets.
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

/** PAX extended header records (key=value), e.g. `path` and `size`. */
export function decodePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = parseInt(data.subarray(offset, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0 || offset + length > data.length) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    offset += length;
  }
  return records;
}

/** The PAX `size` override, when present and valid. */
export function paxSize(records: Map<string, string>): number | undefined {
  const text = records.get('size');
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function paddingAfter(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}
