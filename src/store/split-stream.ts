/**
 * The split stream: an uncompressed layer tar stored as tar headers, padding and small files
 * inline, plus references to file-content objects by fs-verity digest. Byte layout in
 * docs/split-layer-format.md — keep that page up to date with this file.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import type { ObjectId } from '../verity/fsverity.js';

export const SPLIT_MAGIC = Buffer.from('OCISPLT1', 'ascii');
export const SPLIT_VERSION = 1;
/** Object ids in this version are fs-verity sha256 digests. Changing it is a new format version. */
export const SPLIT_OBJECT_ALGORITHM = 1;
export const SPLIT_HEADER_SIZE = 16;
/** Regular files up to this size stay inline (composefs uses the same bound). Changing it changes every split stream's object id. */
export const INLINE_CONTENT_MAX = 64;

export const RECORD_INLINE = 0x49; // 'I' u32 length, bytes
export const RECORD_OBJECT = 0x4f; // 'O' u64 size, 32-byte object id
export const RECORD_END = 0x45; // 'E' u64 total tar size, 32-byte sha256 of the tar (diff_id)

export function splitHeader(): Buffer {
  const header = Buffer.alloc(SPLIT_HEADER_SIZE);
  SPLIT_MAGIC.copy(header, 0);
  header.writeUInt8(SPLIT_VERSION, 8);
  header.writeUInt8(SPLIT_OBJECT_ALGORITHM, 9);
  return header;
}

export function inlineRecord(data: Buffer): Buffer[] {
  const head = Buffer.alloc(5);
  head.writeUInt8(RECORD_INLINE, 0);
  head.writeUInt32LE(data.length, 1);
  return [head, data];
}

export function objectRecord(size: number, id: ObjectId): Buffer {
  const rec = Buffer.alloc(1 + 8 + 32);
  rec.writeUInt8(RECORD_OBJECT, 0);
  rec.writeBigUInt64LE(BigInt(size), 1);
  Buffer.from(id, 'hex').copy(rec, 9);
  return rec;
}

export function endRecord(totalSize: number, diffId: Digest): Buffer {
  const rec = Buffer.alloc(1 + 8 + 32);
  rec.writeUInt8(RECORD_END, 0);
  rec.writeBigUInt64LE(BigInt(totalSize), 1);
  Buffer.from(diffId.slice('sha256:'.length), 'hex').copy(rec, 9);
  return rec;
}

export type SplitRecord =
  | { type: 'inline'; data: Buffer }
  | { type: 'object'; size: number; id: ObjectId }
  | { type: 'end'; totalSize: number; diffId: Digest };

/**
 * Reads a split stream's records in order, reading the file in bounded chunks. `onBytes` sees
 * every byte of the file once, in order (a caller can hash the stream while reading its records).
 */
export async function* readSplitRecords(file: string, onBytes?: (chunk: Buffer) => void): AsyncGenerator<SplitRecord> {
  const handle = await open(file, 'r');
  try {
    let buf = Buffer.alloc(0);
    let position = 0;
    let eof = false;
    const need = async (n: number): Promise<boolean> => {
      while (buf.length < n && !eof) {
        const chunk = Buffer.allocUnsafe(Math.max(256 * 1024, n));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
        if (bytesRead === 0) eof = true;
        else onBytes?.(chunk.subarray(0, bytesRead));
        position += bytesRead;
        buf = Buffer.concat([buf, chunk.subarray(0, bytesRead)]);
      }
      return buf.length >= n;
    };
    const corrupt = (why: string) => new OcitoolError('STORE_CORRUPT', `split stream ${file}: ${why}`);
    if (!(await need(SPLIT_HEADER_SIZE)) || !buf.subarray(0, 8).equals(SPLIT_MAGIC)) throw corrupt('bad magic');
    if (buf.readUInt8(8) !== SPLIT_VERSION) throw corrupt(`unsupported version ${buf.readUInt8(8)}`);
    buf = buf.subarray(SPLIT_HEADER_SIZE);
    for (;;) {
      if (!(await need(1))) throw corrupt('truncated (no end record)');
      const type = buf.readUInt8(0);
      if (type === RECORD_INLINE) {
        if (!(await need(5))) throw corrupt('truncated inline record');
        const length = buf.readUInt32LE(1);
        if (!(await need(5 + length))) throw corrupt('truncated inline data');
        yield { type: 'inline', data: Buffer.from(buf.subarray(5, 5 + length)) };
        buf = buf.subarray(5 + length);
      } else if (type === RECORD_OBJECT || type === RECORD_END) {
        if (!(await need(41))) throw corrupt('truncated record');
        const size = Number(buf.readBigUInt64LE(1));
        const hex = buf.subarray(9, 41).toString('hex');
        buf = buf.subarray(41);
        if (type === RECORD_OBJECT) {
          yield { type: 'object', size, id: hex as ObjectId };
        } else {
          yield { type: 'end', totalSize: size, diffId: `sha256:${hex}` as Digest };
          if (buf.length > 0 || (await need(1))) throw corrupt('data after end record');
          return;
        }
      } else {
        throw corrupt(`unknown record type 0x${type.toString(16)}`);
      }
    }
  } finally {
    await handle.close();
  }
}

/** The reassembled uncompressed tar, streamed: inline bytes and object contents in order. */
export function openSplitStream(file: string, objectPath: (id: ObjectId) => string): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const record of readSplitRecords(file)) {
      if (record.type === 'inline') {
        yield record.data;
      } else if (record.type === 'object') {
        let got = 0;
        for await (const chunk of createReadStream(objectPath(record.id), { highWaterMark: 256 * 1024 })) {
          got += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (got !== record.size) throw new OcitoolError('STORE_CORRUPT', `object ${record.id}: expected ${record.size} bytes, found ${got}`);
      }
    }
  }
  return Readable.from(generate(), { objectMode: false });
}
