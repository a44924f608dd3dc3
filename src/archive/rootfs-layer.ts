/**
 * The one layer of `import-rootfs`, made in one pass over the tarball: decompress (tar, gzip, xz,
 * zstd), check that it is a tar (the one tar parser reads the headers as the bytes pass), hash the tar
 * (diff_id), gzip it at a fixed level, fix the gzip header, and hash and count the output while
 * spooling it. Deterministic: Node's gzip header has mtime 0 and no name; its OS byte is set to
 * 255 ("unknown") so the bytes do not depend on the platform that ran it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcitoolError } from '../errors.js';
import { autoDecompress, createCompressor } from '../compress/index.js';
import type { Digest } from '../oci/digest.js';
import { TarStreamParser } from '../tar/stream.js';

/** gzip level for rootfs layers: fixed, so the digest never depends on a default that may change. */
export const ROOTFS_GZIP_LEVEL = 6;
/** Offset of the OS byte in a gzip header (RFC 1952) and the "unknown" value written there. */
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNKNOWN = 255;

export interface RootfsLayer {
  file: string;
  digest: Digest;
  size: number;
  diffId: Digest;
}

/** Builds the gzip layer of `tarball` into `outFile`. */
export async function buildRootfsLayer(tarball: string, outFile: string): Promise<RootfsLayer> {
  const { stream } = await autoDecompress(createReadStream(tarball, { highWaterMark: 256 * 1024 }), tarball);
  const diffHash = createHash('sha256');
  const outHash = createHash('sha256');
  let size = 0;
  let entries = 0;
  // The tar check runs on the same bytes through the one tar parser (src/tar); only entries are looked at.
  const check = new TarStreamParser({ raw: () => {} }, tarball);
  const seeTar = new Transform({
    transform(chunk: Buffer, _enc, done) {
      diffHash.update(chunk);
      check.push(chunk).then(() => done(null, chunk), done);
    },
    flush(done) {
      try {
        entries = check.end().entries;
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  let offset = 0;
  const seeGzip = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (offset <= GZIP_OS_OFFSET && offset + chunk.length > GZIP_OS_OFFSET) chunk[GZIP_OS_OFFSET - offset] = GZIP_OS_UNKNOWN;
      offset += chunk.length;
      outHash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(stream, seeTar, createCompressor('gzip', { level: ROOTFS_GZIP_LEVEL }), seeGzip, createWriteStream(outFile));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw err instanceof OcitoolError ? err : new OcitoolError('TAR_INVALID', `${tarball}: not a valid tar: ${message}`, { cause: err });
  }
  if (entries === 0) throw new OcitoolError('TAR_INVALID', `${tarball}: the tarball holds no files`);
  return { file: outFile, digest: `sha256:${outHash.digest('hex')}` as Digest, size, diffId: `sha256:${diffHash.digest('hex')}` as Digest };
}

