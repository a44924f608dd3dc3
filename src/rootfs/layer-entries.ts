/**
 * A stored layer's tar entries, read from its split stream without reading any file object:
 * headers, PAX and GNU records and small files are inline, large files are object references
 * (docs/split-layer-format.md). Names, link targets and xattr names stay byte strings (latin1),
 * so nothing is lost to UTF-8 decoding. Used by `checkout` and `composefs` through merge.ts.
 */
import { OcitoolError } from '../errors.js';
import { isZeroBlock, paddingAfter, TAR_BLOCK, TAR_META_MAX } from '../tar/header.js';
import type { EntryType, LayerEntry } from './merge.js';

/** The records of a split stream (src/store/split-stream.ts), as far as entries need them. */
export type SplitPiece = { type: 'inline'; data: Buffer } | { type: 'object'; size: number; id: string } | { type: 'end' };

const TYPES: Record<string, EntryType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo' };

function field(h: Buffer, start: number, length: number): string {
  const f = h.subarray(start, start + length);
  const end = f.indexOf(0);
  return f.subarray(0, end < 0 ? length : end).toString('latin1');
}

function numeric(h: Buffer, start: number, length: number): number {
  const f = h.subarray(start, start + length);
  if (f[0]! & 0x80) {
    let v = f[0]! & 0x7f;
    for (let i = 1; i < f.length; i++) v = v * 256 + f[i]!;
    return v;
  }
  const text = f.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** PAX records as byte strings (latin1): `path` and `linkpath` keep their exact bytes. */
function paxRecords(data: Buffer, what: string): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    const len = space < 0 ? NaN : parseInt(data.subarray(off, space).toString('latin1'), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || off + len > data.length) {
      if (data.subarray(off).every((b) => b === 0)) break;
      throw new OcitoolError('TAR_INVALID', `${what}: bad PAX record at offset ${off}`);
    }
    const rec = data.subarray(space + 1, off + len - 1).toString('latin1');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

function paxTime(text: string): { sec: number; nsec: number } {
  const [s, frac = ''] = text.split('.');
  return { sec: Number(s), nsec: Number((frac + '000000000').slice(0, 9)) };
}

/** Decodes every entry of one layer. */
export async function readLayerEntries(pieces: AsyncIterable<SplitPiece>, what: string): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  let pending: Buffer = Buffer.alloc(0); // inline bytes not yet consumed
  let global = new Map<string, string>();
  let pax: Map<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let ended = false;
  // The entry whose data is being read: either collected inline or given by one object record.
  let current: { entry?: LayerEntry; meta?: string; size: number; chunks: Buffer[]; object?: { id: string; size: number } } | undefined;
  let skip = 0;

  const finishData = (): void => {
    const c = current!;
    current = undefined;
    const data = c.object ? undefined : Buffer.concat(c.chunks);
    if (c.meta !== undefined) {
      if (c.meta === 'x') pax = paxRecords(data!, what);
      else if (c.meta === 'g') global = new Map([...global, ...paxRecords(data!, what)]);
      else if (c.meta === 'L') longName = data!.toString('latin1').replace(/\0+$/, '');
      else if (c.meta === 'K') longLink = data!.toString('latin1').replace(/\0+$/, '');
    } else if (c.entry) {
      c.entry.content = c.object ? { kind: 'object', id: c.object.id } : { kind: 'inline', data: data! };
    }
    skip = paddingAfter(c.size);
  };

  const onHeader = (h: Buffer): void => {
    const type = String.fromCharCode(h[156]!);
    let size = numeric(h, 124, 12);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > TAR_META_MAX) throw new OcitoolError('TAR_INVALID', `${what}: metadata record of ${size} bytes is over the limit`);
      current = { meta: type, size, chunks: [] };
      if (size === 0) finishData();
      return;
    }
    const kind = TYPES[type];
    if (!kind) throw new OcitoolError('TAR_INVALID', `${what}: entry "${field(h, 0, 100)}" has tar type '${type}', which a root filesystem cannot hold`);
    const records = new Map([...global, ...(pax ?? [])]);
    pax = undefined;
    let name = field(h, 0, 100);
    if (h.subarray(257, 263).toString('latin1') === 'ustar\0') {
      const prefix = field(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    name = records.get('path') ?? longName ?? name;
    const linkname = records.get('linkpath') ?? longLink ?? field(h, 157, 100);
    longName = undefined;
    longLink = undefined;
    if (records.has('size')) size = Number(records.get('size'));
    if (kind !== 'file') size = 0; // as Go's archive/tar: no data for links, folders, devices
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of records) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), Buffer.from(v, 'latin1'));
    const entry: LayerEntry = {
      name,
      type: kind,
      mode: numeric(h, 100, 8) & 0o7777,
      uid: records.has('uid') ? Number(records.get('uid')) : numeric(h, 108, 8),
      gid: records.has('gid') ? Number(records.get('gid')) : numeric(h, 116, 8),
      mtime: records.has('mtime') ? paxTime(records.get('mtime')!) : { sec: numeric(h, 136, 12), nsec: 0 },
      size,
      ...(kind === 'symlink' || kind === 'hardlink' ? { linkname } : {}),
      ...(kind === 'char' || kind === 'block' ? { devMajor: numeric(h, 329, 8), devMinor: numeric(h, 337, 8) } : {}),
      ...(xattrs.size ? { xattrs } : {}),
    };
    entries.push(entry);
    current = { entry, size, chunks: [] };
    if (size === 0) {
      if (kind === 'file') entry.content = { kind: 'inline', data: Buffer.alloc(0) };
      current = undefined;
    }
  };

  const consumeInline = (): void => {
    while (pending.length > 0 && !ended) {
      if (skip > 0) {
        const n = Math.min(skip, pending.length);
        skip -= n;
        pending = pending.subarray(n);
        continue;
      }
      if (current) {
        const got = current.chunks.reduce((n, c) => n + c.length, 0);
        const n = Math.min(current.size - got, pending.length);
        current.chunks.push(pending.subarray(0, n));
        pending = pending.subarray(n);
        if (got + n === current.size) finishData();
        continue;
      }
      if (pending.length < TAR_BLOCK) return;
      const h = pending.subarray(0, TAR_BLOCK);
      pending = pending.subarray(TAR_BLOCK);
      if (isZeroBlock(h)) {
        ended = true; // end of archive: what follows is trailer
        return;
      }
      onHeader(Buffer.from(h));
    }
  };

  for await (const piece of pieces) {
    if (piece.type === 'end') break;
    if (ended) continue;
    if (piece.type === 'inline') {
      pending = pending.length ? Buffer.concat([pending, piece.data]) : piece.data;
      consumeInline();
    } else {
      if (!current?.entry || current.chunks.length > 0 || current.size !== piece.size || pending.length > 0) {
        throw new OcitoolError('STORE_CORRUPT', `${what}: split stream has object ${piece.id} where the tar has no file of ${piece.size} bytes`);
      }
      current.object = { id: piece.id, size: piece.size };
      finishData();
    }
  }
  if (current) throw new OcitoolError('STORE_CORRUPT', `${what}: tar ends inside entry "${current.entry?.name ?? 'metadata'}"`);
  return entries;
}
