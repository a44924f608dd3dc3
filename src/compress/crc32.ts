/**
 * CRC-32 (the gzip polynomial) for the gzip trailer. Parallel gzip runs it on the main thread, in
 * order, chunk by chunk, while the chunks deflate on the thread pool: at GB/s it never limits, and
 * no crc32_combine is needed.
 */
import * as zlib from 'node:zlib';

// zlib.crc32 exists since Node 20.15 / 22.2; older 20.x get the table version below.
const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | undefined;
function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** The CRC-32 of `data`, continuing from `value` (the CRC of what came before; 0 at the start). */
export function crc32(data: Uint8Array, value = 0): number {
  // zlib's crc32() returns 0 for a NULL buffer, which is what an empty Buffer.concat() can pass.
  if (data.length === 0) return value >>> 0;
  if (native) return native(data, value);
  const t = crcTable();
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
