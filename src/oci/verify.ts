/**
 * The one verifying stream. Every blob from every source passes through it: it counts and hashes
 * bytes as they flow, fails as soon as more than the expected size arrives (so a hostile peer
 * cannot make us read forever), and at the end fails on a short read or a wrong digest. It only
 * ends cleanly when both hold, so a sink that commits on 'end' commits verified bytes only.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OcitoolError } from '../errors.js';
import { digestAlgorithm, type Digest } from './digest.js';

export interface Expected {
  digest: Digest;
  size: number;
}

export class VerifyingStream extends Transform {
  readonly expected: Expected;
  /** What the bytes are, for errors: "blob sha256:… from layout /x". */
  readonly what: string;
  bytesRead = 0;
  private readonly hash: Hash;

  /** Called with the running byte count as bytes pass, for progress reporting. */
  private readonly onBytes: ((bytesRead: number) => void) | undefined;

  constructor(expected: Expected, what: string, onBytes?: (bytesRead: number) => void) {
    super({ highWaterMark: 256 * 1024 });
    this.expected = expected;
    this.what = what;
    this.onBytes = onBytes;
    this.hash = createHash(digestAlgorithm(expected.digest));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytesRead += chunk.length;
    if (this.bytesRead > this.expected.size) {
      done(sizeError(this.what, this.expected, this.bytesRead, 'more'));
      return;
    }
    this.hash.update(chunk);
    this.onBytes?.(this.bytesRead);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.bytesRead !== this.expected.size) {
      done(sizeError(this.what, this.expected, this.bytesRead, 'fewer'));
      return;
    }
    const actual = `${digestAlgorithm(this.expected.digest)}:${this.hash.digest('hex')}`;
    if (actual !== this.expected.digest) {
      done(new OcitoolError('DIGEST_MISMATCH', `${this.what}: digest mismatch: expected ${this.expected.digest}, got ${actual} (${this.bytesRead} bytes read)`, {
        details: { expected: this.expected.digest, actual, bytesRead: this.bytesRead },
      }));
      return;
    }
    done();
  }
}

function sizeError(what: string, expected: Expected, bytesRead: number, kind: 'more' | 'fewer'): OcitoolError {
  const message = kind === 'more'
    ? `${what}: size mismatch: more than the expected ${expected.size} bytes`
    : `${what}: size mismatch: expected ${expected.size} bytes, got ${bytesRead}`;
  return new OcitoolError('SIZE_MISMATCH', message, { details: { expected: expected.size, bytesRead, digest: expected.digest } });
}

/** Checks a buffer already in memory (a manifest or config read under the JSON cap). */
export function verifyBuffer(data: Uint8Array, expected: Expected, what: string): void {
  if (data.byteLength !== expected.size) {
    throw sizeError(what, expected, data.byteLength, data.byteLength > expected.size ? 'more' : 'fewer');
  }
  const actual = `${digestAlgorithm(expected.digest)}:${createHash(digestAlgorithm(expected.digest)).update(data).digest('hex')}`;
  if (actual !== expected.digest) {
    throw new OcitoolError('DIGEST_MISMATCH', `${what}: digest mismatch: expected ${expected.digest}, got ${actual} (${data.byteLength} bytes read)`, {
      details: { expected: expected.digest, actual, bytesRead: data.byteLength },
    });
  }
}
