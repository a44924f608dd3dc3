/**
 * Random access into a tar archive (plain, gzip, xz or zstd; a file or a stream such as stdin):
 * an index of where each entry's bytes are, so a layout or docker archive is read in one pass
 * per blob whatever order its entries come in. A plain tar file is read in place and only its
 * headers are read (the scan seeks past the data); anything else is decompressed once into a
 * spool file that the same scan then indexes: one header parser (header.ts) for every tar.
 * Entry names and links are checked by entry-path.ts.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcitoolError, withContext } from '../errors.js';
import { autoDecompress, detectCompression } from '../compress/index.js';
import { normalizeEntryName, resolveSymlinkTarget } from './entry-path.js';
import { isZeroBlock, paddingAfter, REGULAR_TYPES, TAR_BLOCK, TarHeaderReader } from './header.js';

/** Symlink and hardlink chains longer than this are refused (the Linux limit is 40 too). */
const MAX_LINK_HOPS = 40;

export type TarEntry =
  | { type: 'file'; name: string; offset: number; size: number }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'link'; name: string; target: string }
  | { type: 'directory'; name: string };

/** A plain tar file with an index of its entries. */
export class TarArchive {
  constructor(
    /** What the user named (file path or "stdin"), for messages. */
    readonly label: string,
    /** The plain tar on disk: the input itself, or the spool file. */
    readonly tarFile: string,
    readonly entries: Map<string, TarEntry>,
    private readonly spoolDir?: string,
  ) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Follows symlinks and hardlinks to a regular file entry; undefined when there is none. */
  resolve(name: string): Extract<TarEntry, { type: 'file' }> | undefined {
    let current = name;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const entry = this.entries.get(current);
      if (!entry || entry.type === 'directory') return undefined;
      if (entry.type === 'file') return entry;
      current = entry.target;
    }
    throw new OcitoolError('ARCHIVE_INVALID', `${this.label}: "${name}" is a chain of more than ${MAX_LINK_HOPS} links`);
  }

  /** The regular file entry `name` resolves to, or a BLOB_MISSING error naming it. */
  mustResolve(name: string, what: string): Extract<TarEntry, { type: 'file' }> {
    const entry = this.resolve(name);
    if (!entry) throw new OcitoolError('BLOB_MISSING', `${this.label}: ${what} "${name}" is not in the archive`, { details: { path: name } });
    return entry;
  }

  /** Reads a whole entry, refusing one over `cap` bytes before reading it. */
  async readEntry(name: string, cap: number, what: string): Promise<Buffer> {
    const entry = this.mustResolve(name, what);
    if (entry.size > cap) {
      throw new OcitoolError('JSON_TOO_LARGE', `${this.label}: ${what} "${name}" is ${entry.size} bytes, over the ${cap}-byte limit`);
    }
    const handle = await open(this.tarFile, 'r');
    try {
      const buf = Buffer.alloc(entry.size);
      const { bytesRead } = await handle.read(buf, 0, entry.size, entry.offset);
      if (bytesRead !== entry.size) throw new OcitoolError('TAR_INVALID', `${this.label}: "${name}" is truncated`);
      return buf;
    } finally {
      await handle.close();
    }
  }

  /** Streams an entry's bytes (no whole copy in memory). */
  openEntry(entry: Extract<TarEntry, { type: 'file' }>): Readable {
    if (entry.size === 0) return Readable.from([]);
    return createReadStream(this.tarFile, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: 256 * 1024 });
  }

  /** Removes the spool file, if any. */
  async close(): Promise<void> {
    if (this.spoolDir) await rm(this.spoolDir, { recursive: true, force: true });
  }
}

/**
 * Indexes the archive at `file` (or the `stream`, e.g. stdin). A plain tar file is read in place;
 * anything else (compressed, or not a regular file) is first decompressed into a spool file in a
 * fresh folder under `spoolParent`, which the caller chooses so that nothing is left where no one
 * looks (the store operation's staging folder, or a scratch folder beside the output). Both are
 * then indexed by the same header scan.
 */
export async function openTarArchive(source: { file: string } | { stream: Readable; label: string }, spoolParent: string | undefined): Promise<TarArchive> {
  const label = 'file' in source ? source.file : source.label;
  let spoolDir: string | undefined;
  try {
    if ('file' in source && (await stat(source.file)).isFile() && (await isPlainTar(source.file))) {
      return new TarArchive(label, source.file, await scanHeaders(source.file, label));
    }
    const input = 'file' in source ? createReadStream(source.file, { highWaterMark: 256 * 1024 }) : source.stream;
    if (spoolParent === undefined) throw new OcitoolError('USAGE', `${label}: a compressed or streamed archive is not read here (no scratch folder); give a plain tar or a folder`);
    const { stream } = await autoDecompress(input, label);
    spoolDir = await mkdtemp(path.join(spoolParent, 'archive-'));
    const spoolFile = path.join(spoolDir, 'archive.tar');
    await pipeline(stream, createWriteStream(spoolFile));
    return new TarArchive(label, spoolFile, await scanHeaders(spoolFile, label), spoolDir);
  } catch (err) {
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
    if (err instanceof OcitoolError) throw err.message.startsWith(label) ? err : withContext(label, err);
    throw withContext(label, err);
  }
}

/** True when the file does not start with a compression magic number. */
async function isPlainTar(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await handle.read(head, 0, 6, 0);
    return bytesRead > 0 && detectCompression(head.subarray(0, bytesRead)) === 'none';
  } finally {
    await handle.close();
  }
}

/**
 * Indexes a plain tar file by reading its header blocks and PAX/GNU records only, seeking past
 * every entry's data, through the one header parser (src/tar/header.ts). The end is judged as in
 * stream.ts: a missing end-of-archive marker or last padding is accepted, a cut header or entry is not.
 */
async function scanHeaders(file: string, label: string): Promise<Map<string, TarEntry>> {
  const handle = await open(file, 'r');
  const entries = new Map<string, TarEntry>();
  const headers = new TarHeaderReader(label);
  try {
    const fileSize = (await handle.stat()).size;
    const block = Buffer.alloc(TAR_BLOCK);
    const readAt = async (buf: Buffer, position: number) => {
      const { bytesRead } = await handle.read(buf, 0, buf.length, position);
      if (bytesRead !== buf.length) throw new OcitoolError('TAR_INVALID', `${label}: truncated tar at byte ${position}`);
    };
    let offset = 0;
    while (offset < fileSize) {
      if (offset + TAR_BLOCK > fileSize) {
        throw new OcitoolError('TAR_INVALID', `${label}: truncated tar (ends in the middle of a header block at byte ${offset})`);
      }
      await readAt(block, offset);
      if (isZeroBlock(block)) break;
      const step = headers.next(block, offset);
      const dataOffset = offset + TAR_BLOCK;
      const size = step.kind === 'meta' ? step.size : step.entry.size;
      if (dataOffset + size > fileSize) throw truncated(label, step.kind === 'meta' ? 'a PAX or long-name record' : `"${step.entry.name}"`);
      if (step.kind === 'meta') {
        const data = Buffer.alloc(size);
        await readAt(data, dataOffset);
        headers.applyMeta(step.type, data, offset);
      } else {
        const { entry: h } = step;
        const type = REGULAR_TYPES.has(h.type) ? 'file' : h.type === '5' ? 'directory' : h.type === '2' ? 'symlink' : h.type === '1' ? 'link' : 'other';
        const entry = toEntry({ name: h.name, type, size, linkname: h.linkname, byteOffset: dataOffset }, label);
        if (entry && entry.name !== '') entries.set(entry.name, entry);
      }
      // A missing last padding (no end-of-archive marker either) ends the loop: accepted, as Go does.
      offset = dataOffset + size + paddingAfter(size);
    }
    if (offset >= fileSize && headers.pending) {
      throw new OcitoolError('TAR_INVALID', `${label}: truncated tar (ends after PAX or long-name records with no entry)`);
    }
    return entries;
  } finally {
    await handle.close();
  }
}

function truncated(label: string, name: string): OcitoolError {
  return new OcitoolError('TAR_INVALID', `${label}: truncated tar (the data of ${name} runs past the end of the file)`);
}

interface ScannedHeader {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  size: number;
  linkname: string;
  byteOffset: number;
}

function toEntry(header: ScannedHeader, label: string): TarEntry | undefined {
  const what = `${label}: tar entry`;
  const name = normalizeEntryName(header.name, what);
  switch (header.type) {
    case 'file':
      return { type: 'file', name, offset: header.byteOffset, size: header.size };
    case 'directory':
      return { type: 'directory', name };
    case 'symlink':
      return { type: 'symlink', name, target: resolveSymlinkTarget(name, header.linkname, what) };
    case 'link':
      return { type: 'link', name, target: normalizeEntryName(header.linkname, `${what} "${name}" hardlink target`) };
    default:
      return undefined; // devices, fifos: never part of an image archive; ignored like docker does
  }
}
