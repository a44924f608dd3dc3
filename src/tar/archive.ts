/**
 * Random access into a tar archive (plain, gzip, xz or zstd; a file or a stream such as stdin):
 * an index of where each entry's bytes are, so a layout or docker archive is read in one pass
 * per blob whatever order its entries come in. A plain tar file is read in place and only its
 * headers are read (the scan seeks past the data); anything else is decompressed once into a
 * spool file while tar-stream indexes it (the same pass). Entry names and links are checked by
 * entry-path.ts.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OcitoolError, withContext } from '../errors.js';
import { autoDecompress, detectCompression } from '../compress/index.js';
import { normalizeEntryName, resolveSymlinkTarget } from './entry-path.js';
import { decodeHeader, decodePax, isZeroBlock, paddingAfter, paxSize, TAR_BLOCK } from './header.js';

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
 * Indexes the archive at `file` (or, when `file` is undefined, the `input` stream), spooling it
 * into a fresh folder under `spoolParent` when it is compressed or not a regular file.
 */
export async function openTarArchive(source: { file: string } | { stream: Readable; label: string }, spoolParent: string): Promise<TarArchive> {
  const label = 'file' in source ? source.file : source.label;
  let spoolDir: string | undefined;
  try {
    let input: Readable;
    let regular = false;
    if ('file' in source) {
      regular = (await stat(source.file)).isFile();
      input = createReadStream(source.file, { highWaterMark: 256 * 1024 });
    } else {
      input = source.stream;
    }
    if (regular && 'file' in source && (await isPlainTar(source.file))) {
      input.destroy();
      return new TarArchive(label, source.file, await scanHeaders(source.file, label));
    }
    const { stream } = await autoDecompress(input, label);
    spoolDir = await mkdtemp(path.join(spoolParent, 'archive-'));
    const spoolFile = path.join(spoolDir, 'archive.tar');
    const entries = await indexEntries(stream, spoolFile, label);
    return new TarArchive(label, spoolFile, entries, spoolDir);
  } catch (err) {
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
    if (err instanceof OcitoolError) throw err.message.startsWith(label) ? err : withContext(label, err);
    throw tarError(label, err);
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
 * Indexes a plain tar file by reading its 512-byte headers only, seeking past every entry's data
 * (tar-stream reads every byte). PAX `path`, `linkpath` and `size` and GNU long names apply.
 */
async function scanHeaders(file: string, label: string): Promise<Map<string, TarEntry>> {
  const handle = await open(file, 'r');
  const entries = new Map<string, TarEntry>();
  try {
    const fileSize = (await handle.stat()).size;
    const block = Buffer.alloc(TAR_BLOCK);
    const readAt = async (buf: Buffer, position: number) => {
      const { bytesRead } = await handle.read(buf, 0, buf.length, position);
      if (bytesRead !== buf.length) throw new OcitoolError('TAR_INVALID', `${label}: truncated tar at byte ${position}`);
    };
    let offset = 0;
    let pax: Map<string, string> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    let sawEnd = false;
    while (offset + TAR_BLOCK <= fileSize) {
      await readAt(block, offset);
      if (isZeroBlock(block)) {
        sawEnd = true;
        break;
      }
      const header = decodeHeader(block, label, offset);
      const dataOffset = offset + TAR_BLOCK;
      if (header.type === 'x' || header.type === 'g' || header.type === 'L' || header.type === 'K') {
        if (dataOffset + header.size > fileSize) throw truncated(label, header.name);
        const data = Buffer.alloc(header.size);
        await readAt(data, dataOffset);
        if (header.type === 'x') pax = decodePax(data);
        if (header.type === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
        if (header.type === 'K') longLink = data.toString('utf8').replace(/\0+$/, '');
        offset = dataOffset + header.size + paddingAfter(header.size);
        continue;
      }
      const name = pax?.get('path') ?? longName ?? header.name;
      const linkname = pax?.get('linkpath') ?? longLink ?? header.linkname;
      const size = header.size > 0 && pax ? (paxSize(pax) ?? header.size) : header.size;
      pax = longName = longLink = undefined;
      if (dataOffset + size > fileSize) throw truncated(label, name);
      const type = header.type === '0' || header.type === '\0' || header.type === '7' ? 'file' : header.type === '5' ? 'directory' : header.type === '2' ? 'symlink' : header.type === '1' ? 'link' : 'other';
      const entry = toEntry({ name, type, size, linkname, byteOffset: dataOffset } as unknown as tar.Header & { byteOffset: number }, label);
      if (entry && entry.name !== '') entries.set(entry.name, entry);
      offset = dataOffset + size + paddingAfter(size);
    }
    if (!sawEnd && offset !== fileSize) throw truncated(label, 'the last entry');
    return entries;
  } finally {
    await handle.close();
  }
}

function truncated(label: string, name: string): OcitoolError {
  return new OcitoolError('TAR_INVALID', `${label}: truncated tar (the data of "${name}" runs past the end of the file)`);
}

function tarError(label: string, err: unknown): OcitoolError {
  const message = err instanceof Error ? err.message : String(err);
  if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return withContext(label, err);
  if (/exceeds max size/.test(message)) {
    return new OcitoolError('TAR_INVALID', `${label}: a tar header (PAX or long name) is over tar-stream's 4 MiB limit; refusing it`, { cause: err });
  }
  if (/corrupt|incorrect header|invalid|unexpected end|checksum/i.test(message)) {
    return new OcitoolError('TAR_INVALID', `${label}: not a valid tar archive: ${message}`, { cause: err });
  }
  return withContext(label, err);
}

async function indexEntries(stream: Readable, spoolFile: string | undefined, label: string): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  const extract = tar.extract();
  extract.on('entry', (header, entryStream, next) => {
    // Errors of the archive reach the pipeline below; an entry stream only repeats them.
    entryStream.on('error', () => {});
    try {
      const entry = toEntry(header as tar.Header & { byteOffset: number }, label);
      if (entry && entry.name !== '') entries.set(entry.name, entry);
    } catch (err) {
      entryStream.resume();
      extract.destroy(err as Error);
      return;
    }
    entryStream.on('end', () => next());
    entryStream.resume();
  });
  const stages: (Readable | Writable | Transform)[] = [stream];
  let spool: ReturnType<typeof createWriteStream> | undefined;
  if (spoolFile) {
    spool = createWriteStream(spoolFile);
    stages.push(teeTo(spool));
  }
  stages.push(extract as unknown as Writable);
  try {
    await pipeline(stages as unknown as [Readable, Writable]);
  } finally {
    if (spool) await new Promise<void>((resolve) => spool!.end(resolve));
  }
  return entries;
}

function toEntry(header: tar.Header & { byteOffset: number }, label: string): TarEntry | undefined {
  const what = `${label}: tar entry`;
  const name = normalizeEntryName(header.name, what);
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return { type: 'file', name, offset: header.byteOffset, size: header.size ?? 0 };
    case 'directory':
      return { type: 'directory', name };
    case 'symlink':
      return { type: 'symlink', name, target: resolveSymlinkTarget(name, header.linkname ?? '', what) };
    case 'link':
      return { type: 'link', name, target: normalizeEntryName(header.linkname ?? '', `${what} "${name}" hardlink target`) };
    default:
      return undefined; // devices, fifos: never part of an image archive; ignored like docker does
  }
}

/** Writes every chunk to `out` (waiting for it to drain) and passes it on. */
function teeTo(out: Writable): Transform {
  return new Transform({
    highWaterMark: 256 * 1024,
    construct(done) {
      out.once('error', (err) => this.destroy(err));
      done();
    },
    transform(chunk: Buffer, _enc, done) {
      if (out.write(chunk)) done(null, chunk);
      else out.once('drain', () => done(null, chunk));
    },
  });
}
