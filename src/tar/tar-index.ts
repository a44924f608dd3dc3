/**
 * Random access into an uncompressed tar file: one scan of the headers (seeking past the data,
 * never reading it), then any entry can be streamed by offset. This lets a layout tar be imported
 * in one pass over each blob whatever order its entries come in.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import { decodeHeader, decodePax, isZeroBlock, paddingAfter, paxSize, TAR_BLOCK } from './header.js';

export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  offset: number;
  size: number;
  linkname: string;
}

/** Normalizes an entry name ("./a/b/" -> "a/b") and refuses absolute and `..` paths. */
export function safeEntryName(name: string, what: string): string {
  if (name.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(name)) throw new OcitoolError('PATH_UNSAFE', `${what}: tar entry "${name}" is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new OcitoolError('PATH_UNSAFE', `${what}: tar entry "${name}" contains ".."`);
  return parts.join('/');
}

export class TarIndex {
  private constructor(readonly file: string, readonly entries: Map<string, TarEntry>) {}

  static async scan(file: string, what = file): Promise<TarIndex> {
    const handle = await open(file, 'r');
    const entries = new Map<string, TarEntry>();
    try {
      const fileSize = (await handle.stat()).size;
      const block = Buffer.alloc(TAR_BLOCK);
      let offset = 0;
      let pax: Map<string, string> | undefined;
      let longName: string | undefined;
      let sawEnd = false;
      while (offset + TAR_BLOCK <= fileSize) {
        await readExactly(handle, block, offset);
        if (isZeroBlock(block)) {
          sawEnd = true;
          break;
        }
        const header = decodeHeader(block, what, offset);
        const dataOffset = offset + TAR_BLOCK;
        let size = header.size;
        if (header.type === 'x' || header.type === 'L' || header.type === 'g') {
          if (dataOffset + size > fileSize) throw truncated(what, header.name);
          const data = Buffer.alloc(size);
          await readExactly(handle, data, dataOffset);
          if (header.type === 'x') pax = decodePax(data);
          if (header.type === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
          offset = dataOffset + size + paddingAfter(size);
          continue;
        }
        const rawName = pax?.get('path') ?? longName ?? header.name;
        const linkname = pax?.get('linkpath') ?? header.linkname;
        if (pax && header.size > 0) size = paxSize(pax) ?? size;
        pax = undefined;
        longName = undefined;
        if (dataOffset + size > fileSize) throw truncated(what, rawName);
        const name = safeEntryName(rawName, what);
        const type = header.type === '5' ? 'directory' : header.type === '2' ? 'symlink' : header.type === '1' ? 'link' : header.type === '0' || header.type === '\0' || header.type === '7' ? 'file' : 'other';
        if (name !== '') entries.set(name, { name, type, offset: dataOffset, size, linkname });
        offset = dataOffset + size + paddingAfter(size);
      }
      if (!sawEnd && offset !== fileSize) throw truncated(what, 'the last entry');
      if (entries.size === 0) throw new OcitoolError('TAR_INVALID', `${what}: empty tar archive`);
      return new TarIndex(file, entries);
    } finally {
      await handle.close();
    }
  }

  /** Finds a regular file, following links inside the archive; refuses links that leave it. */
  lookup(name: string, what: string): TarEntry | undefined {
    let current = safeEntryName(name, what);
    for (let hops = 0; hops < 16; hops++) {
      const entry = this.entries.get(current);
      if (!entry) return undefined;
      if (entry.type === 'file') return entry;
      if (entry.type !== 'symlink' && entry.type !== 'link') return undefined;
      const target = entry.type === 'link' ? entry.linkname : path.posix.join(path.posix.dirname(current), entry.linkname);
      const normal = path.posix.normalize(target);
      if (entry.linkname.startsWith('/') || normal.startsWith('..')) {
        throw new OcitoolError('PATH_UNSAFE', `${what}: "${current}" is a link to "${entry.linkname}", outside the archive`);
      }
      current = safeEntryName(normal, what);
    }
    throw new OcitoolError('PATH_UNSAFE', `${what}: too many links at "${name}"`);
  }

  openEntry(entry: TarEntry): Readable {
    if (entry.size === 0) return createReadStream(this.file, { start: 1, end: 0 });
    return createReadStream(this.file, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: 256 * 1024 });
  }

  async readEntry(entry: TarEntry): Promise<Buffer> {
    const handle = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(entry.size);
      await readExactly(handle, buf, entry.offset);
      return buf;
    } finally {
      await handle.close();
    }
  }
}

function truncated(what: string, name: string): OcitoolError {
  return new OcitoolError('TAR_INVALID', `${what}: truncated tar (data of ${JSON.stringify(name)} runs past the end of the file)`);
}

async function readExactly(handle: import('node:fs/promises').FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await handle.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new OcitoolError('TAR_INVALID', `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}
