/**
 * Tars written byte for byte (no tar library), so a test controls exactly what a header says:
 * a PAX `size` with a ustar size field of 0 (what Go's archive/tar writes for files over 8 GiB),
 * PAX global headers, GNU long names, and tars with no end-of-archive blocks.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export interface HeaderFields {
  name: string;
  size: number;
  type?: string;
  linkname?: string;
  /** What to write in the ustar size field; default `size`. */
  sizeField?: number;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** One 512-byte ustar header block with a correct checksum. */
export function ustarHeader(h: HeaderFields): Buffer {
  const block = Buffer.alloc(512);
  block.write(h.name.slice(0, 100), 0, 'utf8');
  block.write(octal(h.type === '5' ? 0o755 : 0o644, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  block.write(octal(h.sizeField ?? h.size, 12), 124, 'latin1');
  block.write(octal(0, 12), 136, 'latin1');
  block.write(' '.repeat(8), 148, 'latin1');
  block.write(h.type ?? '0', 156, 'latin1');
  if (h.linkname) block.write(h.linkname, 157, 'utf8');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(octal(sum, 7) + ' ', 148, 'latin1');
  return block;
}

/** A PAX record: "<length> <key>=<value>\n", where length counts itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return `${length}${body}`;
}

export function pad(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** A PAX extended ('x') or global ('g') header with its records, padded. */
export function paxHeader(type: 'x' | 'g', records: Record<string, string>, name = 'PaxHeader'): Buffer {
  const data = Buffer.from(Object.entries(records).map(([k, v]) => paxRecord(k, v)).join(''));
  return Buffer.concat([ustarHeader({ name, size: data.length, type }), data, pad(data.length)]);
}

/** A GNU long-name ('L') header carrying `name`. */
export function gnuLongName(name: string): Buffer {
  const data = Buffer.from(`${name}\0`);
  return Buffer.concat([ustarHeader({ name: '././@LongLink', size: data.length, type: 'L' }), data, pad(data.length)]);
}

export function fileEntry(name: string, data: Buffer, opts: { paxSizeZero?: boolean; longName?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  if (opts.paxSizeZero) parts.push(paxHeader('x', { size: String(data.length) }));
  if (opts.longName) parts.push(gnuLongName(name));
  parts.push(ustarHeader({ name: opts.longName ? name.slice(0, 99) : name, size: data.length, sizeField: opts.paxSizeZero ? 0 : data.length }), data, pad(data.length));
  return Buffer.concat(parts);
}

export function dirEntry(name: string): Buffer {
  return ustarHeader({ name: name.endsWith('/') ? name : `${name}/`, size: 0, type: '5' });
}

export const TRAILER = Buffer.alloc(1024);

/** Every file of a layout folder as tar entries (sorted), each regular file written with `opts`. */
export async function layoutEntries(dir: string, opts: { paxSizeZero?: boolean } = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if ((await stat(path.join(dir, r))).isDirectory()) {
        parts.push(dirEntry(r));
        await walk(r);
      } else {
        parts.push(fileEntry(r, await readFile(path.join(dir, r)), opts));
      }
    }
  }
  await walk('');
  return Buffer.concat(parts);
}
