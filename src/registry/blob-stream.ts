/**
 * A blob download as one Readable that survives dropped connections: when the body fails part
 * way, it asks again with `Range: bytes=N-` and continues if the server answers 206 with a
 * matching `Content-Range`, else it reads the full body again and skips what it already passed
 * on. It never passes on more than size + 1 bytes (one extra so the verifier reports "more").
 * The bytes are unverified here: the engine pipes them through VerifyingStream.
 */
import { Readable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import { DEFAULT_TIMEOUTS, idleGuarded, IdleTimeoutError } from './http.js';

/** Resumes after this many dropped connections or stalled bodies for one blob, then the pull fails. */
export const MAX_RESUMES = 5;

/** A body and the offset of its first byte in the blob. */
export interface BodyAt {
  body: AsyncIterable<Buffer> & { destroy(): void };
  start: number;
}

/** Opens the blob from `offset` (0: whole); answers which offset the body really starts at. */
export type OpenAt = (offset: number) => Promise<BodyAt>;

/** Parses `Content-Range: bytes START-END/TOTAL`; returns START or undefined. */
export function contentRangeStart(header: string | null, size: number): number | undefined {
  const m = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!m) return undefined;
  const total = m[3] === '*' ? size : Number(m[3]);
  return total === size && Number(m[2]) === size - 1 ? Number(m[1]) : undefined;
}

/**
 * The blob's bytes as a stream, resuming on dropped connections and on bodies that send nothing
 * for `idleMs`; `what` names the blob and registry in errors.
 */
export function openResumable(open: OpenAt, size: number, what: string, idleMs = DEFAULT_TIMEOUTS.idleMs): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    let delivered = 0;
    for (let resumes = 0; ; resumes++) {
      const { body, start } = await open(delivered);
      let skip = delivered - start;
      try {
        for await (const chunk of idleGuarded(body, idleMs)) {
          let c = chunk;
          if (skip > 0) {
            if (c.length <= skip) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          if (delivered + c.length > size) {
            // Past the descriptor's size: hand over one byte too many and stop reading the peer.
            yield c.subarray(0, size + 1 - delivered);
            body.destroy();
            return;
          }
          delivered += c.length;
          yield c;
        }
        return; // A clean end, short or not: the verifier judges the length.
      } catch (err) {
        body.destroy();
        if (resumes >= MAX_RESUMES) {
          const why = err instanceof IdleTimeoutError ? err.message : 'connection dropped';
          throw new OcitoolError('NETWORK', `${what}: ${why}, giving up after ${resumes + 1} tries at byte ${delivered} of ${size}`, { cause: err });
        }
      }
    }
  }
  return Readable.from(generate(), { objectMode: false });
}
