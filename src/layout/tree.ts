/**
 * A read-only tree of files that a layout lives in: a folder, or a tar (plain, read in place;
 * compressed or a stream, spooled once) through the tar index in src/tar. Paths are checked:
 * nothing outside the tree can be reached.
 */
import { createReadStream } from 'node:fs';
import { open, realpath, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { OcitoolError, withContext } from '../errors.js';
import { isEnoent } from '../util/fs.js';
import { openTarArchive, type TarArchive } from '../tar/archive.js';
import { normalizeEntryName } from '../tar/entry-path.js';

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
  constructor(readonly root: string, readonly description: string = root) {}

  private async resolve(rel: string): Promise<string> {
    const full = path.join(this.root, normalizeEntryName(rel, this.description));
    // A symlink inside the folder must not lead out of it.
    let real: string;
    try {
      real = await realpath(full);
    } catch (err) {
      // Only ENOENT means missing; EACCES, EIO, ELOOP are reported as they are.
      if (isEnoent(err)) throw missing(this.description, rel);
      throw withContext(`${this.description}: ${rel}`, err);
    }
    const rootReal = await realpath(this.root);
    if (real !== rootReal && !real.startsWith(rootReal + path.sep)) {
      // Not a link itself (a folder on the way is): name where it resolved to instead.
      const link = await readlink(full).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EINVAL') return real; // not a link itself
        throw withContext(`${this.description}: ${rel}`, err);
      });
      throw new OcitoolError('PATH_UNSAFE', `${this.description}: ${rel} is a link to ${link}, outside the layout`);
    }
    return real;
  }

  async readFile(rel: string, maxBytes: number): Promise<Buffer> {
    const handle = await open(await this.resolve(rel), 'r');
    try {
      const size = (await handle.stat()).size;
      if (size > maxBytes) throw new OcitoolError('JSON_TOO_LARGE', `${this.description}: ${rel} is ${size} bytes, over the ${maxBytes}-byte limit`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async openFile(rel: string): Promise<Readable> {
    return createReadStream(await this.resolve(rel), { highWaterMark: 256 * 1024 });
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

  async close(): Promise<void> {}
}

export class TarTree implements FileTree {
  readonly description: string;
  constructor(private readonly archive: TarArchive) {
    this.description = archive.label;
  }

  private entry(rel: string) {
    const entry = this.archive.resolve(normalizeEntryName(rel, this.description));
    if (!entry) throw missing(this.description, rel);
    return entry;
  }

  async readFile(rel: string, maxBytes: number): Promise<Buffer> {
    return this.archive.readEntry(this.entry(rel).name, maxBytes, rel);
  }

  async openFile(rel: string): Promise<Readable> {
    return this.archive.openEntry(this.entry(rel));
  }

  async has(rel: string): Promise<boolean> {
    return this.archive.resolve(normalizeEntryName(rel, this.description)) !== undefined;
  }

  async close(): Promise<void> {
    await this.archive.close();
  }
}

export interface OpenTreeOptions {
  /** For messages; default the path. */
  description?: string;
  /**
   * Where a compressed or streamed tar is spooled: the store operation's staging folder (gc
   * leaves it alone while the operation lives) or a scratch folder beside an output. Required
   * for anything but a folder or a plain tar file: a spool is never put where no one looks.
   */
  spoolParent?: string;
}

/** Opens a folder, a tar file, or a tar stream (e.g. stdin); compressed tars and streams are spooled once. */
export async function openFileTree(input: string | Readable, options: OpenTreeOptions = {}): Promise<FileTree> {
  const { description, spoolParent } = options;
  if (typeof input !== 'string') return new TarTree(await openTarArchive({ stream: input, label: description ?? 'standard input' }, spoolParent));
  let info;
  try {
    info = await stat(input);
  } catch (err) {
    throw new OcitoolError('NOT_FOUND', `${input}: no such file or folder`, { cause: err });
  }
  if (info.isDirectory()) return new FolderTree(input, description ?? input);
  if (info.size === 0 && info.isFile()) throw new OcitoolError('TAR_INVALID', `${description ?? input}: empty file`);
  // A plain tar file is read in place; only a compressed one needs the spool folder.
  return new TarTree(await openTarArchive({ file: input }, spoolParent));
}
