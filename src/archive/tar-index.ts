/**
 * One pass over a tar archive (plain, gzip, xz or zstd; a file or a stream such as stdin) that
 * records where each entry's bytes are, so later reads are random access into a plain tar file.
 * A plain tar file is read in place; anything else is decompressed once into a spool file in
 * `spoolDir` while it is indexed (the same pass). Entry names and links are checked by
 * entry-path.ts; tar-stream caps PAX and long-name headers at 4 MiB.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OcitoolError, withContext } from '../errors.js';
import { autoDecompress } from '../compress/index.js';
import { normalizeEntryName, resolveSymlinkTarget } from './entry-path.js';

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
    const { kind, stream } = await autoDecompress(input, label);
    if (kind === 'none' && regular && 'file' in source) {
      const entries = await indexEntries(stream, undefined, label);
      return new TarArchive(label, source.file, entries);
    }
    spoolDir = await mkdtemp(path.join(spoolParent, 'archive-'));
    const spoolFile = path.join(spoolDir, 'archive.tar');
    const entries = await indexEntries(stream, spoolFile, label);
    return new TarArchive(label, spoolFile, entries, spoolDir);
  } catch (err) {
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
    throw err instanceof OcitoolError ? withContext(label, err) : tarError(label, err);
  }
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
