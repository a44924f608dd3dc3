/**
 * An OCI image layout folder as a copy sink: blobs written to a temp file in the layout and
 * renamed into place, existing blobs trusted only after their digest is checked, and `oci-layout`
 * and index.json written last (temp, fsync, rename, folder fsync), adding or replacing entries by
 * ref name. Temp files are named by util/scratch.ts, so the next writer removes a killed one's.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { syncFilesystem } from '../util/sync.js';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { isEnoent, listNames } from '../util/fs.js';
import { ioError, writeFileDurably } from '../util/output.js';
import { removeStaleScratchIn, scratchPath } from '../util/scratch.js';
import { digestAlgorithm } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { IndexSchema, parseJson, type Descriptor, type Index } from '../oci/schemas.js';
import type { ImageSink, SinkRoot } from '../copy/transport.js';
import { blobPath } from './source.js';
import { ANNOTATION_REF_NAME as REF_NAME } from '../oci/annotations.js';

export class LayoutFolderSink implements ImageSink {
  readonly partialIndex = 'rewrite' as const;
  readonly description: string;
  private readonly temps = new Set<string>();
  private readonly checked = new Set<string>();

  constructor(readonly dir: string) {
    this.description = `oci layout ${dir}`;
  }

  /** Makes the folder; removes temp files that killed writers to it left (their process is gone). */
  static async create(dir: string): Promise<LayoutFolderSink> {
    try {
      await mkdir(path.join(dir, 'blobs'), { recursive: true });
      await removeStaleScratchIn(dir);
      for (const alg of await listNames(path.join(dir, 'blobs'))) await removeStaleScratchIn(path.join(dir, 'blobs', alg));
    } catch (err) {
      throw ioError(dir, err, 'cannot prepare the layout folder');
    }
    return new LayoutFolderSink(dir);
  }

  private file(desc: Descriptor): string {
    return path.join(this.dir, blobPath(desc));
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    if (this.checked.has(desc.digest)) return true;
    const file = this.file(desc);
    try {
      const hash = createHash(digestAlgorithm(desc.digest));
      let size = 0;
      for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
        size += (chunk as Buffer).length;
        if (size > desc.size) return false;
        hash.update(chunk as Buffer);
      }
      const ok = size === desc.size && `${digestAlgorithm(desc.digest)}:${hash.digest('hex')}` === desc.digest;
      if (ok) this.checked.add(desc.digest);
      return ok;
    } catch {
      // Missing or unreadable: the blob is written again, and that write reports a real I/O problem.
      return false;
    }
  }

  async readSmallBlob(desc: Descriptor): Promise<Buffer | undefined> {
    try {
      return await readFile(this.file(desc));
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw ioError(this.file(desc), err, 'cannot read');
    }
  }

  async writeSmallBlob(desc: Descriptor, raw: Buffer): Promise<void> {
    await this.place(desc, (fd) => writeAll(fd, raw));
  }

  async writeBlob(desc: Descriptor, data: Readable): Promise<void> {
    await this.place(desc, async (fd) => {
      for await (const chunk of data) writeAll(fd, chunk as Buffer);
    });
  }

  /**
   * Takes a file holding a blob's verified bytes (convert's re-compressed layers, spooled beside
   * the output) by renaming it into place; across filesystems (EXDEV) it is copied instead.
   */
  async adoptFile(desc: Descriptor, file: string): Promise<void> {
    const target = this.file(desc);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(file, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw ioError(target, err, 'cannot move the blob into place');
      await this.writeBlob(desc, createReadStream(file, { highWaterMark: 256 * 1024 }));
      await rm(file, { force: true });
    }
    this.checked.add(desc.digest);
  }

  /**
   * Writes to a temp file beside the target and renames it into place once the verified stream
   * has ended. Writes are synchronous page-cache copies and there is no fsync per blob: commit
   * syncs the filesystem once before index.json names anything (measured: an fsync per blob and
   * an async write per chunk made `pull --layout` twice skopeo's time).
   */
  private async place(desc: Descriptor, fill: (fd: number) => Promise<void> | void): Promise<void> {
    const target = this.file(desc);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = scratchPath(target);
    this.temps.add(temp);
    const fd = openSync(temp, 'w');
    try {
      await fill(fd);
    } catch (err) {
      closeSync(fd);
      await rm(temp, { force: true });
      this.temps.delete(temp);
      throw err;
    }
    closeSync(fd);
    await rename(temp, target);
    this.temps.delete(temp);
    this.checked.add(desc.digest);
  }

  async commit(roots: SinkRoot[]): Promise<void> {
    const indexFile = path.join(this.dir, 'index.json');
    let index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    try {
      index = parseJson(await readFile(indexFile), IndexSchema, `${this.dir}/index.json`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const root of roots) {
      const names = root.names.length ? root.names : [undefined];
      for (const name of names) {
        // A ref names one image: replace the entry with the same ref, keep the others.
        index.manifests = index.manifests.filter((m) => (name === undefined ? m.digest !== root.descriptor.digest || m.annotations?.[REF_NAME] !== undefined : m.annotations?.[REF_NAME] !== name));
        const { annotations: _drop, ...plain } = root.descriptor;
        index.manifests.push({ ...plain, ...(name ? { annotations: { [REF_NAME]: name } } : {}) });
      }
    }
    await syncFilesystem(this.dir); // every blob on disk before index.json can name it
    // Each file: temp beside it, fsync, rename, fsync of the folder (util/output.ts).
    await writeFileDurably(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFileDurably(indexFile, JSON.stringify(index, null, 2) + '\n');
  }

  /** Removes temp files. Blobs already renamed into place are verified and content-addressed: they stay, and index.json is untouched. */
  async abort(): Promise<void> {
    for (const temp of this.temps) await rm(temp, { force: true });
    this.temps.clear();
  }
}

function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
}
