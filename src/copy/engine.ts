/**
 * The copy engine: the one code path every command takes. It walks an image graph from a source
 * through the graph walker (src/oci/graph.ts: index → nested index → manifests → config and
 * layers, by platform and recorded presence), verifies the size and digest of every byte through
 * VerifyingStream, skips what the sink already holds, copies layers in parallel (largest first),
 * writes blobs before the manifests that name them and manifests before indexes, and commits the
 * sink once at the end; on any error it aborts the sink, which leaves it as it was.
 */
import pLimit from 'p-limit';
import type { Readable } from 'node:stream';
import { OcitoolError, withContext, withLaterFailure } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import { walkImage, type IndexNode, type ManifestNode, type Presence, type PresenceTree } from '../oci/graph.js';
import { MediaType } from '../oci/media-types.js';
import type { Platform } from '../oci/platform.js';
import { MAX_JSON_BYTES, type Descriptor } from '../oci/schemas.js';
import { verifyBuffer, VerifyingStream } from '../oci/verify.js';
import { silentReporter, type Reporter } from './progress.js';
import type { BlobInfo, ImageSink, ImageSource } from './transport.js';

/** Layers copied at once unless the caller says otherwise (crane and skopeo use similar numbers). */
export const DEFAULT_CONCURRENCY = 4;

export interface CopyRoot {
  descriptor: Descriptor;
  names: string[];
  /** This root's platform filter, instead of CopyOptions.platforms (save filters per image). */
  platforms?: Platform[] | 'all';
  /** What of the root the source holds (a partly pulled store tag): only that is read. */
  present?: Presence;
  /** How messages name the root ("image docker.io/library/x:1"). */
  label?: string;
}

export interface CopyOptions {
  /** Which platforms of an index to copy: a list (any match), or 'all'. Default: all. */
  platforms?: Platform[] | 'all';
  concurrency?: number;
  reporter?: Reporter;
}

export interface CopyResult {
  /** The root as the sink holds it: the original, the one selected manifest, or a rewritten index. */
  descriptor: Descriptor;
  names: string[];
  /** For an index kept whole by a 'keep' sink of which only part was copied: the tree of what was. */
  presentChildren?: PresenceTree;
  /** Index children that were not copied (other platforms, or not held by the source). */
  leftOut: Descriptor[];
  /** Bytes actually moved (blobs the sink lacked). */
  bytesCopied: number;
}

interface Walk {
  source: ImageSource;
  sink: ImageSink;
  reporter: Reporter;
  limit: ReturnType<typeof pLimit>;
  bytesCopied: number;
  /** Blobs already copied or being copied in this run, so shared layers move once. */
  inFlight: Map<string, Promise<void>>;
}

/** Copies each root with its graph from source to sink and commits once. */
export async function copyImages(source: ImageSource, sink: ImageSink, roots: CopyRoot[], options: CopyOptions = {}): Promise<CopyResult[]> {
  const walk: Walk = {
    source,
    sink,
    reporter: options.reporter ?? silentReporter,
    limit: pLimit({ concurrency: options.concurrency ?? DEFAULT_CONCURRENCY, rejectOnClear: true }),
    bytesCopied: 0,
    inFlight: new Map(),
  };
  const results: CopyResult[] = [];
  try {
    for (const root of roots) {
      const before = walk.bytesCopied;
      const copied = await copyRoot(walk, root, root.platforms ?? options.platforms ?? 'all');
      results.push({ ...copied, names: root.names, bytesCopied: walk.bytesCopied - before });
    }
    walk.reporter({ type: 'phase', name: 'commit', detail: sink.description });
    await sink.commit(results.map((r) => ({ descriptor: r.descriptor, names: r.names, ...(r.presentChildren ? { presentChildren: r.presentChildren } : {}) })));
    return results;
  } catch (err) {
    try {
      await sink.abort();
    } catch (abortErr) {
      throw withLaterFailure(err, abortErr, `cleaning up ${sink.description}`);
    }
    throw err;
  }
}

/** Reads and verifies a manifest, index or config, preferring the sink's copy when it has one. */
async function readSmall(walk: Walk, desc: Descriptor, kind: string): Promise<Buffer> {
  const what = `${kind} ${desc.digest} from ${walk.source.description}`;
  if (desc.size > MAX_JSON_BYTES) {
    throw new OcitoolError('JSON_TOO_LARGE', `${what}: ${desc.size} bytes is over the ${MAX_JSON_BYTES}-byte limit for ${kind}s`);
  }
  if (walk.sink.readSmallBlob && (await walk.sink.hasBlob(desc, { kind: 'blob' }))) {
    const local = await walk.sink.readSmallBlob(desc);
    if (local) {
      verifyBuffer(local, desc, `${kind} ${desc.digest} in ${walk.sink.description}`);
      return local;
    }
  }
  let raw: Buffer;
  try {
    raw = await walk.source.readBlob(desc);
  } catch (err) {
    throw err instanceof OcitoolError ? err : withContext(what, err);
  }
  verifyBuffer(raw, desc, what);
  return raw;
}

/** What a copied node is in the sink, and the manifests copied under it (for the one-manifest root). */
interface Copied {
  descriptor: Descriptor;
  manifests: Descriptor[];
}

async function copyRoot(walk: Walk, root: CopyRoot, platforms: Platform[] | 'all'): Promise<Omit<CopyResult, 'names' | 'bytesCopied'>> {
  const walked = await walkImage<Copied>(root.descriptor, {
    read: (desc, kind) => readSmall(walk, desc, kind),
    platforms,
    ...(root.present !== undefined ? { presence: root.present } : {}),
    ...(root.label ? { label: root.label } : {}),
    visitManifest: async (node) => {
      await copyManifest(walk, node);
      return { descriptor: node.descriptor, manifests: [node.descriptor] };
    },
    visitIndex: (node) => copyIndex(walk, node),
  });
  // walkImage returns nothing only when nothing was held or matched and it did not throw.
  if (!walked) throw new OcitoolError('PLATFORM', `${root.label ?? `image ${root.descriptor.digest}`}: nothing of it is held by ${walk.source.description}`);
  const keptWhole = walked.presence !== true && walk.sink.partialIndex === 'keep';
  return { descriptor: walked.result.descriptor, leftOut: walked.leftOut, ...(keptWhole ? { presentChildren: walked.presence as PresenceTree } : {}) };
}

/**
 * Writes an index after its children. A 'keep' sink gets the original bytes (presence goes in the
 * tag); a 'rewrite' sink gets, at every level copied only in part, a new index listing what was
 * copied (rewritten children under their new digests), or, when the root was copied in part and
 * holds one manifest in all, that manifest (as skopeo and crane write it, and the only form
 * skopeo reads when the index was nested): never an index naming an absent blob.
 */
async function copyIndex(walk: Walk, node: IndexNode<Copied>): Promise<Copied> {
  const { descriptor: desc, raw, index, children } = node;
  const manifests = children.flatMap((c) => c.result.manifests);
  if (node.whole || walk.sink.partialIndex === 'keep') {
    if (!(await walk.sink.hasBlob(desc, { kind: 'blob' }))) await walk.sink.writeSmallBlob(desc, raw);
    walk.reporter({ type: 'done', id: desc.digest, size: desc.size });
    return { descriptor: desc, manifests };
  }
  if (node.ancestors.length === 0 && manifests.length === 1) return { descriptor: manifests[0]!, manifests };
  const entries = children.map(({ descriptor: child, result }) => ({ ...child, mediaType: result.descriptor.mediaType, digest: result.descriptor.digest, size: result.descriptor.size }));
  const mediaType = index.mediaType ?? desc.mediaType ?? MediaType.ociIndex;
  const rewritten = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: entries, ...(index.annotations ? { annotations: index.annotations } : {}) }));
  const newDesc: Descriptor = { mediaType, digest: digestOf(rewritten), size: rewritten.length };
  await walk.sink.writeSmallBlob(newDesc, rewritten);
  walk.reporter({ type: 'message', text: `index ${desc.digest} copied partly: wrote ${newDesc.digest} listing ${children.length} of ${index.manifests.length} entries` });
  return { descriptor: newDesc, manifests };
}

async function copyManifest(walk: Walk, node: ManifestNode): Promise<void> {
  const { sink, reporter } = walk;
  const { descriptor: desc, raw, manifest } = node;
  const jobs = node.layers.map(({ descriptor: layer, tar, diffId }) => ({
    layer,
    info: (tar ? { kind: 'layer', ...(diffId ? { diffId } : {}) } : { kind: 'blob' }) as BlobInfo,
  }));
  // The config is a blob like the layers: stored first, so an interrupted copy keeps it too.
  if (!(await sink.hasBlob(manifest.config, { kind: 'blob' }))) await sink.writeSmallBlob(manifest.config, node.configRaw!);
  jobs.sort((a, b) => b.layer.size - a.layer.size);
  await settleAll(walk, jobs.map(({ layer, info }) => copyBlobOnce(walk, layer, info)));
  if (!(await sink.hasBlob(desc, { kind: 'blob' }))) await sink.writeSmallBlob(desc, raw);
  reporter({ type: 'done', id: desc.digest, size: desc.size });
}

/**
 * Waits for every job, not just the first failure: a sink may only be aborted once nothing is
 * still writing into it. After a failure, queued jobs are dropped and running ones finish.
 */
async function settleAll(walk: Walk, jobs: Promise<void>[]): Promise<void> {
  let first: unknown;
  const guarded = jobs.map((job) =>
    job.catch((err: unknown) => {
      if (first === undefined) {
        first = err;
        walk.limit.clearQueue();
      }
    }),
  );
  await Promise.all(guarded);
  if (first !== undefined) throw first;
}

function copyBlobOnce(walk: Walk, desc: Descriptor, info: BlobInfo): Promise<void> {
  let job = walk.inFlight.get(desc.digest);
  if (!job) {
    job = walk.limit(() => copyBlob(walk, desc, info));
    walk.inFlight.set(desc.digest, job);
  }
  return job;
}

async function copyBlob(walk: Walk, desc: Descriptor, info: BlobInfo): Promise<void> {
  const { source, sink, reporter } = walk;
  const kind = info.kind;
  if (await sink.hasBlob(desc, info)) {
    reporter({ type: 'skipped', id: desc.digest, kind, size: desc.size, reason: `already in ${sink.description}` });
    return;
  }
  reporter({ type: 'started', id: desc.digest, kind, size: desc.size });
  const what = `${kind} ${desc.digest} from ${source.description}`;
  let input: Readable;
  try {
    input = await source.openBlob(desc);
  } catch (err) {
    throw err instanceof OcitoolError ? err : withContext(what, err);
  }
  const verifier = new VerifyingStream(desc, what, (bytes) => reporter({ type: 'progress', id: desc.digest, bytes, size: desc.size }));
  input.on('error', (err) => verifier.destroy(err));
  input.pipe(verifier);
  try {
    await sink.writeBlob(desc, verifier, info);
  } catch (err) {
    input.destroy();
    throw err instanceof OcitoolError ? err : withContext(what, err);
  }
  walk.bytesCopied += desc.size;
  reporter({ type: 'done', id: desc.digest, size: desc.size });
}
