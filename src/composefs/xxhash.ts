/** xxHash32 (the kernel's lib/xxhash.c), which EROFS uses for its xattr name bloom filter. */
const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

function round(acc: number, input: number): number {
  acc = (acc + Math.imul(input, P2)) >>> 0;
  return Math.imul(rotl(acc, 13), P1) >>> 0;
}

export function xxh32(data: Buffer, seed: number): number {
  const len = data.length;
  let p = 0;
  let h: number;
  if (len >= 16) {
    const limit = len - 16;
    let v1 = (seed + P1 + P2) >>> 0;
    let v2 = (seed + P2) >>> 0;
    let v3 = seed >>> 0;
    let v4 = (seed - P1) >>> 0;
    do {
      v1 = round(v1, data.readUInt32LE(p));
      v2 = round(v2, data.readUInt32LE(p + 4));
      v3 = round(v3, data.readUInt32LE(p + 8));
      v4 = round(v4, data.readUInt32LE(p + 12));
      p += 16;
    } while (p <= limit);
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else {
    h = (seed + P5) >>> 0;
  }
  h = (h + len) >>> 0;
  while (p + 4 <= len) {
    h = (h + Math.imul(data.readUInt32LE(p), P3)) >>> 0;
    h = Math.imul(rotl(h, 17), P4) >>> 0;
    p += 4;
  }
  while (p < len) {
    h = (h + Math.imul(data[p]!, P5)) >>> 0;
    h = Math.imul(rotl(h, 11), P1) >>> 0;
    p++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, P2) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, P3) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
