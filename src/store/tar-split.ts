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
import type { FileObjectThread } from './file-objects.js';
import type { ObjectWriter, Staging } from './staging.js';
import type { Digest } from '../oci/digest.js';
import { REGULAR_TYPES, type TarEntryHeader } from '../tar/header.js';
import { TarStreamParser } from '../tar/stream.js';
import { withContext, withLaterFailure } from '../errors.js';

/** Files up to this size are hashed in memory before touching disk, so a file the store already has costs no write. */
const BUFFERED_OBJECT_MAX = 1024 * 1024;
/** Inline bytes are cut into one record once this many are pending. */
const INLINE_FLUSH = 64 * 1024;
const OUT_BUFFER = 64 * 1024;

/** A record of the split stream waiting for its turn: inline bytes, or an object whose id the file-object thread has not yet given. */
type Pending = { data: Buffer } | { size: number; id: ObjectId | undefined };

/**
 * File contents go to the operation's file-object thread (file-objects.ts), which hashes and stages
 * them while this thread goes on parsing; records are written in tar order as the ids come back.
 */
export class TarSplitter extends Writable {
  private readonly parser: TarStreamParser;
  private readonly files: FileObjectThread;
  private inline: Buffer[] = [];
  private inlineSize = 0;
  private fileId: number | undefined;
  private total = 0;
  private streamWriter: ObjectWriter;
  /** Split-stream bytes gathered into one write (records are small: a write each would cost more than the bytes). */
  private readonly out = Buffer.allocUnsafe(OUT_BUFFER);
  private outFill = 0;
  /** Records not yet written, in order; the head waits for its object id. */
  private queue: Pending[] = [];
  private head = 0;
  private outstanding = 0;
  private failure: Error | undefined;
  private allAnswered: (() => void) | undefined;
  /** Object ids this layer references, for callers that count sharing. */
  readonly objectIds = new Set<ObjectId>();
  splitId: ObjectId | undefined;

  constructor(private readonly staging: Staging, private readonly what: string) {
    super({ highWaterMark: 256 * 1024 });
    this.files = staging.area.fileObjects();
    this.streamWriter = staging.createObjectWriter();
    this.put(splitHeader());
    this.parser = new TarStreamParser({
      raw: (bytes) => this.pushInline(bytes),
      entry: (header) => this.onEntry(header),
      data: (chunk) => this.onData(chunk),
      entryEnd: () => this.endData(),
    }, what);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.total += chunk.length;
    this.parser
      .push(chunk)
      .then(() => {
        if (this.inlineSize >= INLINE_FLUSH) this.cutInline();
        this.writeReady();
        return this.files.belowLimit();
      })
      .then(() => done(this.failure ?? null), (err: unknown) => done(this.failure ?? this.named(err)));
  }

  /** Finishes the split stream; `diffId` is the sha256 the caller measured over the same bytes. */
  async finishSplit(diffId: Digest): Promise<ObjectId> {
    this.parser.end();
    this.cutInline();
    try {
      this.files.flush();
    } catch (err) {
      throw this.named(err);
    }
    if (this.outstanding > 0 && !this.failure) await new Promise<void>((resolve) => (this.allAnswered = resolve));
    if (this.failure) throw this.failure;
    this.writeReady();
    this.put(endRecord(this.total, diffId));
    this.flushOut();
    this.splitId = await this.streamWriter.finish();
    return this.splitId;
  }

  // Writables destroy themselves after 'finish' too; only a failure discards what was written.
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!err) {
      done(null);
      return;
    }
    this.failure ??= err;
    this.streamWriter.discard().then(() => done(err), (later: unknown) => done(withLaterFailure(err, later, 'removing the split stream being written')));
  }

  private onEntry(header: TarEntryHeader): void {
    if (!REGULAR_TYPES.has(header.type) || header.size <= INLINE_CONTENT_MAX) return;
    this.cutInline();
    const record: Pending = { size: header.size, id: undefined };
    this.queue.push(record);
    this.outstanding++;
    this.fileId = this.files.begin(header.size > BUFFERED_OBJECT_MAX, (err, result) => {
      this.outstanding--;
      if (err) this.failure ??= withContext(this.what, err);
      else if (!this.failure) {
        record.id = result!.id;
        this.staging.adoptStaged(result!.id, result!.temp);
        this.objectIds.add(result!.id);
      }
      if (this.outstanding === 0) this.allAnswered?.();
    });
  }

  /** The file-object thread's failure does not name the layer; every other error here does. */
  private named(err: unknown): Error {
    return err === this.files.failed ? withContext(this.what, err) : (err as Error);
  }

  private onData(data: Buffer): void {
    if (this.fileId !== undefined) this.files.write(this.fileId, data);
    else this.pushInline(data);
  }

  private endData(): void {
    if (this.fileId === undefined) return;
    this.files.end(this.fileId);
    this.fileId = undefined;
  }

  private pushInline(data: Buffer): void {
    if (data.length === 0) return;
    this.inline.push(Buffer.from(data));
    this.inlineSize += data.length;
  }

  /** Pending inline bytes become one record in the queue. */
  private cutInline(): void {
    if (this.inline.length === 0) return;
    this.queue.push({ data: this.inline.length === 1 ? this.inline[0]! : Buffer.concat(this.inline, this.inlineSize) });
    this.inline = [];
    this.inlineSize = 0;
  }

  /** Writes queued records up to the first object still waiting for its id. */
  private writeReady(): void {
    if (this.failure) return;
    while (this.head < this.queue.length) {
      const record = this.queue[this.head]!;
      if ('data' in record) {
        for (const piece of inlineRecord(record.data)) this.put(piece);
      } else {
        if (record.id === undefined) break;
        this.put(objectRecord(record.size, record.id));
      }
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private put(bytes: Buffer): void {
    if (this.outFill + bytes.length > OUT_BUFFER) this.flushOut();
    if (bytes.length >= OUT_BUFFER) this.streamWriter.writeSync(bytes);
    else {
      bytes.copy(this.out, this.outFill);
      this.outFill += bytes.length;
    }
  }

  private flushOut(): void {
    if (this.outFill === 0) return;
    this.streamWriter.writeSync(this.out.subarray(0, this.outFill));
    this.outFill = 0;
  }
}
