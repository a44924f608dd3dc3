/**
 * The two interfaces every transport implements. A transport reads images (`ImageSource`), writes
 * them (`ImageSink`), or both; `src/copy` moves an image graph from one to the other and is the
 * only place that decides order, concurrency, skipping and verification. Roots (which image to
 * copy) are found by each transport's own functions, since a registry resolves a reference, a
 * layout reads index.json and the store reads a tag.
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/schemas.js';
import type { Digest } from '../oci/digest.js';
import type { PresenceTree } from '../oci/graph.js';

export interface ImageSource {
  /** Credential-free description for messages: "oci layout ./debian", "registry localhost:5000". */
  readonly description: string;
  /**
   * Raw bytes of a small blob (manifest, index, config). Unverified: the engine checks size and
   * digest. Implementations must not read more than MAX_JSON_BYTES + 1 bytes.
   */
  readBlob(desc: Descriptor): Promise<Buffer>;
  /** A blob's raw bytes as a stream, unverified: the engine pipes it through VerifyingStream. */
  openBlob(desc: Descriptor): Promise<Readable>;
  /** Releases files, sockets, temp folders. */
  close?(): Promise<void>;
}

/** What the engine knows about a blob beyond its descriptor, for sinks that need it. */
export interface BlobInfo {
  kind: 'layer' | 'blob';
  /** For tar layers: the expected digest of the uncompressed tar, from the config's diff_ids. */
  diffId?: Digest;
}

export interface ImageSink {
  readonly description: string;
  /**
   * Whether the sink already holds this blob intact. The engine then neither reads nor writes it
   * (a registry pull makes no blob request). A sink whose files are not content-addressed checks
   * the local copy before saying yes.
   */
  hasBlob(desc: Descriptor, info: BlobInfo): Promise<boolean>;
  /**
   * Stores a blob from a verified stream: the stream only ends cleanly when size and digest hold,
   * so a sink commits on 'end' and discards on 'error'.
   */
  writeBlob(desc: Descriptor, data: Readable, info: BlobInfo): Promise<void>;
  /**
   * Optional: the bytes of a small blob the sink already holds (a config), so that a copy of an
   * image the sink has makes no request to the source. The engine verifies them again.
   */
  readSmallBlob?(desc: Descriptor): Promise<Buffer | undefined>;
  /** Stores a manifest, index or config whose bytes the engine has verified. */
  writeSmallBlob(desc: Descriptor, raw: Buffer): Promise<void>;
  /**
   * How the sink wants an index of which only some children were copied: 'keep' stores the
   * original index bytes (same digest; the sink tracks which children are present), 'rewrite'
   * asks the engine for a new index listing only the copied children.
   */
  readonly partialIndex: 'keep' | 'rewrite';
  /** Makes everything written durable and names `root` with `names` (tags, layout refs). */
  commit(roots: SinkRoot[]): Promise<void>;
  /** Drops what this copy wrote and has not committed. Safe to call after a failed commit. */
  abort(): Promise<void>;
}

export interface SinkRoot {
  descriptor: Descriptor;
  /** Full image names (store tags) or layout refs, as the sink understands them. */
  names: string[];
  /** For 'keep' sinks, when the index was copied in part: which children (and grandchildren) were. */
  presentChildren?: PresenceTree;
}
