/**
 * A tar read as it streams past, block by block, through the one header parser (header.ts): every
 * byte goes to exactly one callback, in order, so a caller can rebuild the tar byte for byte (the
 * layer splitter) or just look at entries (the rootfs check).
 *
 * The end of the input is judged as Go's archive/tar does (docker, containerd, skopeo, umoci):
 * ending at an entry boundary or inside the last entry's padding is a complete tar even without
 * the two zero blocks (umoci 0.4.7 `insert` writes such layers); ending inside a header, inside
 * PAX/GNU records or inside an entry's data is truncation.
 */
import { OcitoolError } from '../errors.js';
import { isZeroBlock, paddingAfter, TAR_BLOCK, TarHeaderReader, type TarEntryHeader } from './header.js';

type Maybe = void | Promise<void>;

export interface TarStreamHandler {
  /** Bytes that are not entry data: header blocks, PAX/GNU records, padding, end blocks and after. */
  raw(bytes: Buffer): Maybe;
  /** An entry's header, before its data. */
  entry?(header: TarEntryHeader): Maybe;
  /** Data of the current entry (`header.size` bytes in all). */
  data?(chunk: Buffer): Maybe;
  /** After the current entry's data, before its padding. */
  entryEnd?(): Maybe;
}

export interface TarEnd {
  /** The end-of-archive zero block was there. */
  trailer: boolean;
  /** Entries seen. */
  entries: number;
}

type State = 'header' | 'meta' | 'data' | 'padding' | 'trailer';

export class TarStreamParser {
  private state: State = 'header';
  private readonly block = Buffer.alloc(TAR_BLOCK);
  private fill = 0;
  private remaining = 0;
  private position = 0;
  private entries = 0;
  private current: TarEntryHeader | undefined;
  private meta: { type: string; parts: Buffer[]; offset: number } | undefined;
  private readonly headers: TarHeaderReader;

  constructor(private readonly handler: TarStreamHandler, private readonly what: string) {
    this.headers = new TarHeaderReader(what);
  }

  async push(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      const left = chunk.length - at;
      switch (this.state) {
        case 'header': {
          const n = Math.min(TAR_BLOCK - this.fill, left);
          chunk.copy(this.block, this.fill, at, at + n);
          this.fill += n;
          at += n;
          if (this.fill === TAR_BLOCK) await this.onHeader();
          break;
        }
        case 'meta': {
          const n = Math.min(this.remaining, left);
          const part = chunk.subarray(at, at + n);
          this.meta!.parts.push(Buffer.from(part));
          await this.handler.raw(part);
          this.advance(n);
          at += n;
          if (this.remaining === 0) {
            const { type, parts, offset } = this.meta!;
            const data = Buffer.concat(parts);
            this.meta = undefined;
            this.headers.applyMeta(type, data, offset);
            this.startPadding(data.length);
          }
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, left);
          const r = this.handler.data?.(chunk.subarray(at, at + n));
          if (r) await r;
          this.advance(n);
          at += n;
          if (this.remaining === 0) await this.endEntry();
          break;
        }
        case 'padding': {
          const n = Math.min(this.remaining, left);
          const r = this.handler.raw(chunk.subarray(at, at + n));
          if (r) await r;
          this.advance(n);
          at += n;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        case 'trailer': {
          // The end-of-archive blocks and anything after them are kept as they are, not parsed.
          const r = this.handler.raw(chunk.subarray(at));
          if (r) await r;
          this.position += left;
          at = chunk.length;
          break;
        }
      }
    }
  }

  /** Call at the end of the input: refuses a truncated tar, accepts a missing end-of-archive marker. */
  end(): TarEnd {
    const where = this.current ? `entry "${this.current.name}"` : 'a header';
    if (this.state === 'header' && this.fill > 0) {
      throw new OcitoolError('TAR_INVALID', `${this.what}: truncated tar (ends in the middle of a header block at byte ${this.position})`);
    }
    if (this.state === 'data') throw new OcitoolError('TAR_INVALID', `${this.what}: truncated tar (ends in the middle of ${where})`);
    if (this.state === 'meta' || (this.state !== 'trailer' && this.headers.pending)) {
      throw new OcitoolError('TAR_INVALID', `${this.what}: truncated tar (ends after PAX or long-name records with no entry)`);
    }
    return { trailer: this.state === 'trailer', entries: this.entries };
  }

  private advance(n: number): void {
    this.remaining -= n;
    this.position += n;
  }

  private async onHeader(): Promise<void> {
    const offset = this.position;
    this.position += TAR_BLOCK;
    this.fill = 0;
    const block = Buffer.from(this.block);
    if (isZeroBlock(block)) {
      this.state = 'trailer';
      await this.handler.raw(block);
      return;
    }
    const step = this.headers.next(block, offset);
    await this.handler.raw(block);
    if (step.kind === 'meta') {
      this.meta = { type: step.type, parts: [], offset };
      this.remaining = step.size;
      if (step.size === 0) {
        this.headers.applyMeta(step.type, Buffer.alloc(0), offset);
        this.meta = undefined;
        this.state = 'header';
      } else {
        this.state = 'meta';
      }
      return;
    }
    this.entries++;
    this.current = step.entry;
    const r = this.handler.entry?.(step.entry);
    if (r) await r;
    this.remaining = step.entry.size;
    if (step.entry.size === 0) await this.endEntry();
    else this.state = 'data';
  }

  private async endEntry(): Promise<void> {
    const r = this.handler.entryEnd?.();
    if (r) await r;
    this.startPadding(this.current!.size);
  }

  private startPadding(size: number): void {
    this.remaining = paddingAfter(size);
    this.state = this.remaining > 0 ? 'padding' : 'header';
  }
}
