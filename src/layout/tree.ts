/**
 * A read-only tree of files that a layout (or an archive) lives in: a folder, an uncompressed tar
 * read in place through an index, or a compressed tar (or stdin) unpacked once to a temp folder.
 * Paths are checked: nothing outside the tree can be reached.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, lstat, realpath, readlink } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OcitoolError } from '../errors.js';
import { autoDecompress, detectCompression, peek } from '../compress/index.js';
import { safeEntryName, TarIndex } from '../tar/tar-index.js';
import { TAR_META_MAX } from '../tar/header.js';

export interface FileTree {
  readonly description: string;
  /** Reads a file whole, refusing more than maxBytes. */
  readFile(rel: string, maxBytes: number): Promise<Buffer>;
  openFile(rel: string): Promise<Readable>;
  has(rel: string): Promise<boolean>;
  close(): Promise<void>;
}

function missing(description: string, rel: string): OcitoolError {
  return new OcitoolError('BLOB_MISSING', `${description}: ${rel} is missing`, { details: { path: rel } });
}

export class FolderTree implements FileTree {
  readonly description: string;
  constructor(readonly root: string, description?: string, private readonly cleanup?: () => Promise<void>) {
    this.description = description ?? root;
  }

  private async resolve(rel: string): Promise<string> {
    const safe = safeEntryName(rel, this.description);
    const full = path.join(this.root, safe);
    // A symlink inside the folder must not lead out of it.
    let real: string;
    try {
      real = await realpath(full);
    } catch {
      throw missing(this.description, rel);
    }
    const rootReal = await realpath(this.root);
    if (real !== rootReal && !real.startsWith(rootReal + path.sep)) {
      const link = await readlink(full).catch(() => real);
      throw new OcitoolError('PATH_UNSAFE', `${this.description}: ${rel} is a link to ${link}, outside the layout`);
    }
    return real;
  }

  async readFile(rel: string, maxBytes: number): Promise<Buffer> {
    const file = await this.resolve(rel);
    const handle = await open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      if (size > maxBytes) throw new OcitoolError('JSON_TOO_LARGE', `${this.description}: ${rel} is ${size} bytes, over the ${maxBytes}-byte limit`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async openFile(rel: string): Promise<Readable> {
    const file = await this.resolve(rel);
    return createReadStream(file, { highWaterMark: 256 * 1024 });
  }

  async has(rel: string): Promise<boolean> {
    try {
      await this.resolve(rel);
      return true;
    } catch (err) {
      if (err instanceof OcitoolError && err.code === 'BLOB_MISSING') return false;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.cleanup?.();
  }
}

export class TarTree implements FileTree {
  constructor(private readonly index: TarIndex, readonly description: string) {}

  private entry(rel: string) {
    const entry = this.index.lookup(rel, this.description);
    if (!entry) throw missing(this.description, rel);
    return entry;
  }

  async readFile(rel: string, maxBytes: number): Promise<Buffer> {
    const entry = this.entry(rel);
    if (entry.size > maxBytes) throw new OcitoolError('JSON_TOO_LARGE', `${this.description}: ${rel} is ${entry.size} bytes, over the ${maxBytes}-byte limit`);
    return this.index.readEntry(entry);
  }

  async openFile(rel: string): Promise<Readable> {
    return this.index.openEntry(this.entry(rel));
  }

  async has(rel: string): Promise<boolean> {
    return this.index.lookup(rel, this.description) !== undefined;
  }

  async close(): Promise<void> {}
}

/**
 * Opens a folder, a tar file (plain: read in place; gzip/xz/zstd: unpacked to a temp folder) or
 * a stream (`-` for stdin: unpacked to a temp folder).
 */
export async function openFileTree(input: string | Readable, description?: string): Promise<FileTree> {
  if (typeof input === 'string') {
    let info;
    try {
      info = await stat(input);
    } catch (err) {
      throw new OcitoolError('NOT_FOUND', `${input}: no such file or folder`, { cause: err });
    }
    const what = description ?? input;
    if (info.isDirectory()) return new FolderTree(input, what);
    const handle = await open(input, 'r');
    const head = Buffer.alloc(6);
    await handle.read(head, 0, 6, 0);
    await handle.close();
    if (info.size === 0) throw new OcitoolError('TAR_INVALID', `${what}: empty file`);
    if (detectCompression(head) === 'none') return new TarTree(await TarIndex.scan(input, what), what);
    return unpackToTemp(createReadStream(input), what);
  }
  return unpackToTemp(input, description ?? 'standard input');
}

/** Unpacks a (possibly compressed) tar stream into a private temp folder, checking every path. */
export async function unpackToTemp(input: Readable, what: string): Promise<FileTree> {
  const dir = await mkdtemp(path.join(process.env.OCITOOL_TMPDIR ?? os.tmpdir(), 'ocitool-unpack-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const head = await peek(input, 6);
    if (head.length === 0) throw new OcitoolError('TAR_INVALID', `${what}: empty input`);
    const { stream } = await autoDecompress(input, what);
    const extract = tar.extract();
    let count = 0;
    const links: Array<{ name: string; target: string }> = [];
    extract.on('entry', (header, body, next) => {
      (async () => {
        const name = safeEntryName(header.name, what);
        if ((header.pax && JSON.stringify(header.pax).length > TAR_META_MAX)) throw new OcitoolError('TAR_INVALID', `${what}: PAX header too large`);
        const full = path.join(dir, name);
        if (header.type === 'directory') {
          await mkdir(full, { recursive: true });
          body.resume();
        } else if (header.type === 'file' || header.type === 'contiguous-file') {
          await mkdir(path.dirname(full), { recursive: true });
          await pipeline(body, createWriteStream(full));
          count++;
        } else if (header.type === 'symlink' || header.type === 'link') {
          const target = header.type === 'link' ? header.linkname! : path.posix.join(path.posix.dirname(name), header.linkname!);
          const normal = path.posix.normalize(target);
          if (header.linkname!.startsWith('/') || normal.startsWith('..')) {
            throw new OcitoolError('PATH_UNSAFE', `${what}: "${name}" is a link to "${header.linkname}", outside the archive`);
          }
          links.push({ name, target: normal });
          body.resume();
        } else {
          body.resume();
        }
      })().then(() => next(), (err) => next(err));
    });
    await pipeline(stream, extract);
    // Links become copies inside the temp folder, resolved after every file is there.
    for (const link of links) {
      const from = path.join(dir, link.target);
      const to = path.join(dir, link.name);
      await mkdir(path.dirname(to), { recursive: true });
      const st = await lstat(from).catch(() => undefined);
      if (!st || !st.isFile()) throw new OcitoolError('ARCHIVE_INVALID', `${what}: link "${link.name}" points to missing "${link.target}"`);
      await pipeline(createReadStream(from), createWriteStream(to));
    }
    if (count === 0) throw new OcitoolError('TAR_INVALID', `${what}: empty archive`);
    return new FolderTree(dir, what, cleanup);
  } catch (err) {
    await cleanup();
    if (err instanceof OcitoolError) throw err;
    throw new OcitoolError('TAR_INVALID', `${what}: ${(err as Error).message}`, { cause: err });
  }
}


