/**
 * The copy engine: the one code path every command takes. It walks an image graph from a source
 * (index → manifests → config and layers), verifies the size and digest of every byte through
 * VerifyingStream, skips what the sink already holds, copies layers in parallel (largest first),
 * writes blobs before the manifests that name them and manifests before indexes, and commits the
 * sink once at the end; on any error it aborts the sink, which leaves it as it was.
 */
import pLimit from 'p-limit';
import type { Readable } from 'node:stream';
import { OcitoolError, withContext } from '../errors.js';
import { digestOf, type Digest } from '../oci/digest.js';
import { isIndexType, isTarLayerType, MediaType } from '../oci/media-types.js';
import { formatPlatform, platformMatches, type Platform } from '../oci/platform.js';
import { ImageConfigSchema, MAX_JSON_BYTES, parseImageDocument, parseJson, type Descriptor, type Index, type Manifest } from '../oci/schemas.js';
import { verifyBuffer, VerifyingStream } from '../oci/verify.js';
import { silentReporter, type Reporter } from './progress.js';
import type { BlobInfo, ImageSink, ImageSource } from './transport.js';

/** Layers copied at once unless the caller says otherwise (crane and skopeo use similar numbers). */
export const DEFAULT_CONCURRENCY = 4;
/** Nested indexes deeper than this are refused (a cycle or an attack). */
const MAX_INDEX_DEPTH = 8;

export interface CopyRoot {
  descriptor: Descriptor;
  names: string[];
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
  /** For an index kept whole by a 'keep' sink: the children that were copied. */
  presentChildren?: Digest[];
  /** Index children that were not copied (other platforms). */
  leftOut: Descriptor[];
  /** Bytes actually moved (blobs the sink lacked). */
  bytesCopied: number;
}

interface Walk {
  source: ImageSource;
  sink: ImageSink;
  platforms: Platform[] | 'all';
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
    platforms: options.platforms ?? 'all',
    reporter: options.reporter ?? silentReporter,
    limit: pLimit({ concurrency: options.concurrency ?? DEFAULT_CONCURRENCY, rejectOnClear: true }),
    bytesCopied: 0,
    inFlight: new Map(),
  };
  const results: CopyResult[] = [];
  try {
    for (const root of roots) {
      const before = walk.bytesCopied;
      const copied = await copyNode(walk, root.descriptor, [], true);
      results.push({ ...copied, names: root.names, bytesCopied: walk.bytesCopied - before });
    }
    await sink.commit(results.map((r) => ({ descriptor: r.descriptor, names: r.names, ...(r.presentChildren ? { presentChildren: r.presentChildren } : {}) })));
    return results;
  } catch (err) {
    await sink.abort().catch(() => {});
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

async function copyNode(walk: Walk, desc: Descriptor, ancestors: Digest[], isRoot: boolean): Promise<Omit<CopyResult, 'names' | 'bytesCopied'>> {
  if (ancestors.includes(desc.digest)) {
    throw new OcitoolError('LAYOUT_INVALID', `index ${ancestors[ancestors.length - 1]} names itself (directly or through ${desc.digest})`);
  }
  if (ancestors.length > MAX_INDEX_DEPTH) throw new OcitoolError('LAYOUT_INVALID', `indexes nested deeper than ${MAX_INDEX_DEPTH} at ${desc.digest}`);
  const kind = isIndexType(desc.mediaType) ? 'index' : 'manifest';
  const raw = await readSmall(walk, desc, kind);
  const doc = parseImageDocument(raw, desc.mediaType, `${kind} ${desc.digest}`);
  if (doc.kind === 'manifest') {
    await copyManifest(walk, desc, raw, doc.manifest);
    return { descriptor: desc, leftOut: [] };
  }
  return copyIndex(walk, desc, raw, doc.index, [...ancestors, desc.digest], isRoot);
}

function selectChildren(index: Index, platforms: Platform[] | 'all'): { chosen: Descriptor[]; leftOut: Descriptor[] } {
  if (platforms === 'all') return { chosen: index.manifests, leftOut: [] };
  const chosen: Descriptor[] = [];
  const leftOut: Descriptor[] = [];
  for (const child of index.manifests) {
    const nested = isIndexType(child.mediaType);
    const match = nested || (child.platform !== undefined && platforms.some((p) => platformMatches(child.platform!, p)));
    (match ? chosen : leftOut).push(child);
  }
  return { chosen, leftOut };
}

async function copyIndex(walk: Walk, desc: Descriptor, raw: Buffer, index: Index, ancestors: Digest[], isRoot: boolean): Promise<Omit<CopyResult, 'names' | 'bytesCopied'>> {
  for (const child of index.manifests) {
    if (child.digest === desc.digest) throw new OcitoolError('LAYOUT_INVALID', `index ${desc.digest} names itself`);
  }
  const { chosen, leftOut } = selectChildren(index, walk.platforms);
  const copied: Descriptor[] = [];
  for (const child of chosen) {
    const result = await copyNode(walk, child, ancestors, false);
    copied.push(child);
    leftOut.push(...result.leftOut);
  }
  const wanted = walk.platforms === 'all' ? 'all' : walk.platforms.map(formatPlatform).join(', ');
  if (copied.length === 0 && index.manifests.length > 0) {
    const available = index.manifests.map((m) => formatPlatform(m.platform)).join(', ');
    throw new OcitoolError('PLATFORM', `index ${desc.digest} has no manifest for ${wanted} (it has: ${available})`);
  }
  const whole = leftOut.length === 0;
  if (whole || walk.sink.partialIndex === 'keep') {
    if (!(await walk.sink.hasBlob(desc, { kind: 'blob' }))) await walk.sink.writeSmallBlob(desc, raw);
    walk.reporter({ type: 'done', id: desc.digest, size: desc.size });
    return { descriptor: desc, leftOut, ...(whole ? {} : { presentChildren: copied.map((c) => c.digest) }) };
  }
  // A sink that cannot hold a partial index gets the one manifest chosen (as skopeo and crane
  // write it) or a new index listing only what was copied: never an index naming absent blobs.
  if (isRoot && copied.length === 1 && !isIndexType(copied[0]!.mediaType)) return { descriptor: copied[0]!, leftOut };
  const rewritten = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: index.mediaType ?? MediaType.ociIndex, manifests: copied, ...(index.annotations ? { annotations: index.annotations } : {}) }));
  const newDesc: Descriptor = { mediaType: index.mediaType ?? MediaType.ociIndex, digest: digestOf(rewritten), size: rewritten.length };
  await walk.sink.writeSmallBlob(newDesc, rewritten);
  walk.reporter({ type: 'message', text: `index ${desc.digest} copied partly: wrote ${newDesc.digest} listing ${copied.length} of ${index.manifests.length} manifests` });
  return { descriptor: newDesc, leftOut };
}

async function copyManifest(walk: Walk, desc: Descriptor, raw: Buffer, manifest: Manifest): Promise<void> {
  const { sink, reporter } = walk;
  if (manifest.config.digest === desc.digest) throw new OcitoolError('LAYOUT_INVALID', `manifest ${desc.digest} names itself as its config`);
  const configRaw = await readSmall(walk, manifest.config, 'config');
  const isImage = manifest.config.mediaType === MediaType.ociConfig || manifest.config.mediaType === MediaType.dockerConfig;
  const diffIds = isImage ? parseJson(configRaw, ImageConfigSchema, `config ${manifest.config.digest}`).rootfs.diff_ids : [];
  if (isImage) {
    // An image's layers must be tars we can read (plain, gzip, zstd; OCI or Docker types).
    const unknown = manifest.layers.find((l) => !isTarLayerType(l.mediaType));
    if (unknown) throw new OcitoolError('MEDIA_TYPE', `manifest ${desc.digest}: layer ${unknown.digest} has unsupported media type ${unknown.mediaType}`);
  }
  const tarLayers = manifest.layers.filter((l) => isTarLayerType(l.mediaType));
  if (isImage && tarLayers.length !== diffIds.length) {
    throw new OcitoolError('LAYOUT_INVALID', `manifest ${desc.digest}: ${tarLayers.length} layers but the config lists ${diffIds.length} diff_ids`);
  }
  const jobs: Array<{ layer: Descriptor; info: BlobInfo }> = [];
  let tarIndex = 0;
  for (const layer of manifest.layers) {
    const info: BlobInfo = isTarLayerType(layer.mediaType) ? { kind: 'layer', ...(isImage ? { diffId: diffIds[tarIndex++]! } : {}) } : { kind: 'blob' };
    jobs.push({ layer, info });
  }
  // The config is a blob like the layers: stored first, so an interrupted copy keeps it too.
  if (!(await sink.hasBlob(manifest.config, { kind: 'blob' }))) await sink.writeSmallBlob(manifest.config, configRaw);
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
