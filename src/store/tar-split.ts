/**
 * Splits an uncompressed tar, as it streams past, into a split stream (headers, padding, small
 * files inline) and file-content objects. It works on raw 512-byte blocks rather than through
 * tar-stream's parser because reassembly must give back the exact bytes, and tar-stream does not
 * expose raw header blocks, PAX records or padding.
 */
import { Writable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import type { ObjectId } from '../verity/fsverity.js';
import { INLINE_CONTENT_MAX, inlineRecord, objectRecord, splitHeader, endRecord } from './split-stream.js';
import type { ObjectWriter, Staging } from './staging.js';
import type { Digest } from '../oci/digest.js';
import { decodeHeader, decodePax, isHeaderOnly, isZeroBlock, META_TYPES, paddingAfter, paxSize, REGULAR_TYPES, TAR_BLOCK } from '../tar/header.js';

const BLOCK = TAR_BLOCK;
/** Files up to this size are hashed in memory before touching disk, so a file the store already has costs no write. */
const BUFFERED_OBJECT_MAX = 1024 * 1024;
/** Inline bytes are flushed as one record once this many are pending. */
const INLINE_FLUSH = 64 * 1024;

type State = 'header' | 'data' | 'padding' | 'trailer';

export class TarSplitter extends Writable {
  private state: State = 'header';
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private entryName = '';
  private paxSize: number | undefined;
  private meta: Buffer[] | undefined; // PAX/GNU data being collected
  private metaType = '';
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

  constructor(private readonly staging: Staging, private readonly what: string) {
    super({ highWaterMark: 256 * 1024 });
    this.streamWriter = staging.createObjectWriter();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.consume(chunk).then(() => done(), done);
  }

  /** Finishes the split stream; `diffId` is the sha256 the caller measured over the same bytes. */
  async finishSplit(diffId: Digest): Promise<ObjectId> {
    if (this.state === 'data' || this.state === 'padding' || (this.state === 'header' && this.headerFill > 0)) {
      throw new OcitoolError('TAR_INVALID', `${this.what}: tar ends in the middle of ${this.entryName ? `entry "${this.entryName}"` : 'a header'}`);
    }
    if (this.headerFill > 0) this.pushInline(this.header.subarray(0, this.headerFill));
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

  private async consume(chunk: Buffer): Promise<void> {
    this.total += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.state) {
        case 'header': {
          const n = Math.min(BLOCK - this.headerFill, chunk.length - offset);
          chunk.copy(this.header, this.headerFill, offset, offset + n);
          this.headerFill += n;
          offset += n;
          if (this.headerFill === BLOCK) await this.onHeader(this.total - chunk.length + offset - BLOCK);
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, chunk.length - offset);
          await this.onData(chunk.subarray(offset, offset + n));
          this.remaining -= n;
          offset += n;
          if (this.remaining === 0) await this.endData();
          break;
        }
        case 'padding': {
          const n = Math.min(this.remaining, chunk.length - offset);
          this.pushInline(chunk.subarray(offset, offset + n));
          this.remaining -= n;
          offset += n;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        case 'trailer':
          // The end-of-archive blocks and anything after them are kept as they are.
          this.pushInline(chunk.subarray(offset));
          offset = chunk.length;
          break;
      }
      if (this.inlineSize >= INLINE_FLUSH) await this.flushInline();
    }
  }

  private async onHeader(headerOffset: number): Promise<void> {
    const h = this.header;
    this.headerFill = 0;
    this.pushInline(Buffer.from(h));
    if (isZeroBlock(h)) {
      this.state = 'trailer';
      return;
    }
    const header = decodeHeader(h, this.what, headerOffset);
    this.entryName = header.name;
    let size = header.size;
    const isMeta = META_TYPES.has(header.type);
    if (!isMeta) {
      if (this.paxSize !== undefined && !isHeaderOnly(header.type)) size = this.paxSize;
      this.paxSize = undefined;
    }
    this.remaining = size;
    this.meta = isMeta ? [] : undefined;
    this.metaType = header.type;
    this.fileSize = size;
    if (REGULAR_TYPES.has(header.type) && size > INLINE_CONTENT_MAX) {
      if (size <= BUFFERED_OBJECT_MAX) this.fileBuffer = [];
      else this.fileWriter = this.staging.createObjectWriter();
    }
    this.state = size > 0 ? 'data' : 'header';
  }

  private async onData(data: Buffer): Promise<void> {
    if (this.fileBuffer) this.fileBuffer.push(Buffer.from(data));
    else if (this.fileWriter) await this.fileWriter.write(data);
    else {
      this.meta?.push(Buffer.from(data));
      this.pushInline(data);
    }
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
    if (this.meta && this.metaType === 'x') this.paxSize = paxSize(decodePax(Buffer.concat(this.meta)));
    this.meta = undefined;
    const pad = paddingAfter(this.fileSize);
    this.remaining = pad;
    this.state = pad > 0 ? 'padding' : 'header';
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
