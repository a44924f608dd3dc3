/**
 * Splits an uncompressed tar, as it streams past, into a split stream (headers, padding, small
 * files inline) and file-content objects. The tar is read by the one tar parser (src/tar), which
 * hands over every byte in order: entry data of regular files above INLINE_CONTENT_MAX becomes an
 * object, every other byte is kept inline, so reassembly gives back the exact input, including a
 * tar without its end-of-archive blocks (accepted as Go's archive/tar accepts it).
 */
import { Writable } from 'node:stream';
import type { ObjectId } from '../verity/fsverity.js';
import { INLINE_CONTENT_MAX, inlineRecord, objectRecord, splitHeader, endRecord } from './split-stream.js';
import type { ObjectWriter, Staging } from './staging.js';
import type { Digest } from '../oci/digest.js';
import { REGULAR_TYPES, type TarEntryHeader } from '../tar/header.js';
import { TarStreamParser } from '../tar/stream.js';

/** Files up to this size are hashed in memory before touching disk, so a file the store already has costs no write. */
const BUFFERED_OBJECT_MAX = 1024 * 1024;
/** Inline bytes are flushed as one record once this many are pending. */
const INLINE_FLUSH = 64 * 1024;

export class TarSplitter extends Writable {
  private readonly parser: TarStreamParser;
  private inline: Buffer[] = [];
  private inlineSize = 0;
  private fileBuffer: Buffer[] | undefined;
  private fileWriter: ObjectWriter | undefined;
  private fileSize = 0;
  private total = 0;
  private headerWritten = false;
  private streamWriter: ObjectWriter;
  /** Object ids this layer references, for callers that count sharing. */
  readonly objectIds = new Set<ObjectId>();
  splitId: ObjectId | undefined;

  constructor(private readonly staging: Staging, what: string) {
    super({ highWaterMark: 256 * 1024 });
    this.streamWriter = staging.createObjectWriter();
    this.parser = new TarStreamParser({
      raw: (bytes) => this.pushInline(bytes),
      entry: (header) => this.onEntry(header),
      data: (chunk) => this.onData(chunk),
      entryEnd: () => this.endData(),
    }, what);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.total += chunk.length;
    this.parser.push(chunk).then(() => (this.inlineSize >= INLINE_FLUSH ? this.flushInline() : undefined)).then(() => done(), done);
  }

  /** Finishes the split stream; `diffId` is the sha256 the caller measured over the same bytes. */
  async finishSplit(diffId: Digest): Promise<ObjectId> {
    this.parser.end();
    await this.flushInline();
    await this.streamWriter.write(endRecord(this.total, diffId));
    this.splitId = await this.streamWriter.finish();
    return this.splitId;
  }

  // Writables destroy themselves after 'finish' too; only a failure discards what was written.
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!err) {
      done(null);
      return;
    }
    Promise.all([this.streamWriter.discard(), this.fileWriter?.discard()]).then(() => done(err), () => done(err));
  }

  private onEntry(header: TarEntryHeader): void {
    this.fileSize = header.size;
    if (REGULAR_TYPES.has(header.type) && header.size > INLINE_CONTENT_MAX) {
      if (header.size <= BUFFERED_OBJECT_MAX) this.fileBuffer = [];
      else this.fileWriter = this.staging.createObjectWriter();
    }
  }

  private async onData(data: Buffer): Promise<void> {
    if (this.fileBuffer) this.fileBuffer.push(Buffer.from(data));
    else if (this.fileWriter) await this.fileWriter.write(data);
    else this.pushInline(data);
  }

  private async endData(): Promise<void> {
    let id: ObjectId | undefined;
    if (this.fileBuffer) {
      id = await this.staging.storeBuffer(Buffer.concat(this.fileBuffer));
      this.fileBuffer = undefined;
    } else if (this.fileWriter) {
      id = await this.fileWriter.finish();
      this.fileWriter = undefined;
    }
    if (id) {
      await this.flushInline();
      await this.streamWriter.write(objectRecord(this.fileSize, id));
      this.objectIds.add(id);
    }
  }

  private pushInline(data: Buffer): void {
    if (data.length === 0) return;
    this.inline.push(Buffer.from(data));
    this.inlineSize += data.length;
  }

  private async flushInline(): Promise<void> {
    if (!this.headerWritten) {
      await this.streamWriter.write(splitHeader());
      this.headerWritten = true;
    }
    if (this.inline.length === 0) return;
    const data = Buffer.concat(this.inline);
    this.inline = [];
    this.inlineSize = 0;
    for (const piece of inlineRecord(data)) await this.streamWriter.write(piece);
  }
}
