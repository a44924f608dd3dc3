/**
 * A stored layer's tar entries, read from its split stream without reading any file object:
 * headers, PAX and GNU records and small files are inline, large files are object references
 * (docs/split-layer-format.md). Headers go through the one tar header parser (src/tar/header.ts).
 * Names and link targets become byte strings (latin1: one char per byte, merge.ts); the parser
 * decodes them as UTF-8, so a name that is not valid UTF-8 would not survive: every writer we know
 * (Go, GNU tar, Python) writes UTF-8 names in PAX records.
 */
import { OcitoolError } from '../errors.js';
import { isZeroBlock, paddingAfter, TAR_BLOCK, TarHeaderReader } from '../tar/header.js';
import type { EntryType, LayerEntry } from './merge.js';

/** The records of a split stream (src/store/split-stream.ts), as far as entries need them. */
export type SplitPiece = { type: 'inline'; data: Buffer } | { type: 'object'; size: number; id: string } | { type: 'end'; diffId: string };

const TYPES: Record<string, EntryType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo' };

const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/** Decodes every entry of one layer, the layer whose diff_id is `diffId` (its split stream says which it holds). */
export async function readLayerEntries(pieces: AsyncIterable<SplitPiece>, what: string, diffId: string): Promise<LayerEntry[]> {
  const reader = new TarHeaderReader(what);
  const entries: LayerEntry[] = [];
  let pending: Buffer = Buffer.alloc(0); // inline bytes not yet consumed
  let offset = 0; // tar offset of pending[0]
  let ended = false;
  let skip = 0; // padding still to pass
  // The data being read: PAX/GNU records for the reader, or a file's inline content.
  let current: { meta?: string; entry?: LayerEntry; size: number; chunks: Buffer[]; got: number; at: number } | undefined;

  const finishData = (object?: { id: string }): void => {
    const c = current!;
    current = undefined;
    if (c.meta !== undefined) reader.applyMeta(c.meta, Buffer.concat(c.chunks), c.at);
    else if (c.entry) c.entry.content = object ? { kind: 'object', id: object.id } : { kind: 'inline', data: Buffer.concat(c.chunks) };
    skip = paddingAfter(c.size);
  };

  const onHeader = (block: Buffer, at: number): void => {
    const step = reader.next(block, at);
    if (step.kind === 'meta') {
      current = { meta: step.type, size: step.size, chunks: [], got: 0, at };
      if (step.size === 0) finishData();
      return;
    }
    const h = step.entry;
    const kind = TYPES[h.type];
    if (!kind) throw new OcitoolError('TAR_INVALID', `${what}: entry "${h.name}" has tar type '${h.type}', which a root filesystem cannot hold`);
    const size = kind === 'file' ? h.size : 0; // as Go's archive/tar: no data for links, folders, devices
    const entry: LayerEntry = {
      name: bytes(h.name),
      type: kind,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime,
      size,
      ...(kind === 'symlink' || kind === 'hardlink' ? { linkname: bytes(h.linkname) } : {}),
      ...(kind === 'char' || kind === 'block' ? { devMajor: h.devMajor, devMinor: h.devMinor } : {}),
      ...(h.xattrs.size ? { xattrs: h.xattrs } : {}),
    };
    entries.push(entry);
    if (h.size > 0 && kind !== 'file') {
      skip = h.size + paddingAfter(h.size); // data a header-only type should not have: passed over
      return;
    }
    current = { entry, size, chunks: [], got: 0, at };
    if (size === 0) {
      if (kind === 'file') entry.content = { kind: 'inline', data: Buffer.alloc(0) };
      current = undefined;
    }
  };

  const consumeInline = (): void => {
    while (pending.length > 0 && !ended) {
      if (skip > 0 || current) {
        const want = skip > 0 ? skip : current!.size - current!.got;
        const n = Math.min(want, pending.length);
        if (skip > 0) skip -= n;
        else {
          current!.chunks.push(pending.subarray(0, n));
          current!.got += n;
        }
        pending = pending.subarray(n);
        offset += n;
        if (skip === 0 && current && current.got === current.size) finishData();
        continue;
      }
      if (pending.length < TAR_BLOCK) return;
      const block = pending.subarray(0, TAR_BLOCK);
      pending = pending.subarray(TAR_BLOCK);
      offset += TAR_BLOCK;
      if (isZeroBlock(block)) {
        ended = true; // end of archive: what follows is trailer
        return;
      }
      onHeader(Buffer.from(block), offset - TAR_BLOCK);
    }
  };

  for await (const piece of pieces) {
    if (piece.type === 'end') {
      // The layer link was followed by diff_id: a split stream of another layer is not this one.
      if (piece.diffId !== diffId) throw new OcitoolError('STORE_CORRUPT', `${what}: its split stream holds layer ${piece.diffId}; run ocitool fsck --repair and import the image again`);
      continue; // read to its end, so the reader checks nothing follows
    }
    if (ended) continue;
    if (piece.type === 'inline') {
      pending = pending.length ? Buffer.concat([pending, piece.data]) : piece.data;
      consumeInline();
    } else {
      if (!current?.entry || current.got > 0 || current.size !== piece.size || pending.length > 0) {
        throw new OcitoolError('STORE_CORRUPT', `${what}: split stream has object ${piece.id} where the tar has no file of ${piece.size} bytes`);
      }
      offset += piece.size;
      finishData({ id: piece.id });
    }
  }
  if (current) throw new OcitoolError('STORE_CORRUPT', `${what}: tar ends inside entry "${current.entry?.name ?? 'metadata'}"`);
  return entries;
}
