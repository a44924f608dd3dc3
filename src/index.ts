/**
 * ocitool as a library: `import { openStore, importLayout, pull, save, load, convert, listImages } from 'ocitool'`.
 *
 * Every operation is a copy from an `ImageSource` to an `ImageSink` through `copyImages`, which
 * verifies the size and digest of every byte it moves (docs/architecture.md). The functions at
 * the top compose the common cases; the transports below them are the parts for the rest.
 * Progress comes as events (`Reporter`, docs/events.md); the library never prints.
 * Failures are `OcitoolError`s with a stable `code`.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { openArchiveSource } from './archive/docker-archive.js';
import { convertArchive } from './archive/convert.js';
import { LayoutTarSink } from './archive/layout-tar-sink.js';
import { assignLoadNames } from './archive/load-names.js';
import { parseRefFlags } from './archive/refs.js';
import { saveImages } from './archive/save.js';
import { copyImages, type CopyResult } from './copy/engine.js';
import { LayoutFolderSink } from './layout/folder-sink.js';
import type { Compression } from './oci/media-types.js';
import type { Reporter } from './copy/progress.js';
import { openLayout } from './layout/source.js';
import { selectManifest } from './layout/select.js';
import { formatPlatform, parsePlatform, type Platform } from './oci/platform.js';
import { formatReference, normalizeTagName, parseReference } from './oci/reference.js';
import { resolve, type RegistrySourceOptions } from './registry/index.js';
import { describeImage } from './store/describe.js';
import { Store, type StoreOptions } from './store/store.js';

// ---- The store -------------------------------------------------------------------------------

/**
 * Opens (creating when absent) the store at `root`; default: $OCITOOL_STORE, else
 * $XDG_DATA_HOME/ocitool, else ~/.local/share/ocitool. Same as `Store.open`.
 */
export function openStore(root?: string, options: StoreOptions = {}): Promise<Store> {
  return Store.open(root, options);
}

export interface ImageInfo {
  /** Full, normalized name: docker.io/library/debian:bookworm. */
  name: string;
  digest: string;
  mediaType: string;
  /** os/arch[/variant] of each manifest present. */
  platforms: string[];
  /** Bytes of the image's blobs (compressed layers, configs, manifests). */
  size: number;
}

/** The tagged images in the store, as `ocitool images --json` lists them. */
export async function listImages(store: Store): Promise<ImageInfo[]> {
  const out: ImageInfo[] = [];
  for (const tag of await store.listTags()) {
    const summary = await describeImage(store, tag);
    out.push({ name: tag.name, digest: tag.descriptor.digest, mediaType: tag.descriptor.mediaType, platforms: summary.platforms.map(formatPlatform), size: summary.size });
  }
  return out;
}

// ---- High-level operations -------------------------------------------------------------------

/** What every operation takes besides its own options. */
export interface OperationOptions {
  /** Progress events (docs/events.md). Default: none. */
  reporter?: Reporter;
  /** Blobs copied at once. */
  concurrency?: number;
}

export interface ImportLayoutOptions extends OperationOptions {
  /** Names to tag the image with in the store (normalized: `hello` is docker.io/library/hello:latest). */
  names: string[];
  /** The platform to take from a multi-platform layout: a Platform or text (`linux/arm64`, `arm64`). */
  platform?: Platform | string;
  /** The file listing the images; default index.json. */
  indexFile?: string;
}

/** Imports the image of an OCI layout (folder or tar, plain or compressed) into the store, digests unchanged. */
export async function importLayout(store: Store, layoutPath: string, options: ImportLayoutOptions): Promise<CopyResult> {
  const wanted = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  const names = options.names.map(normalizeTagName);
  // The sink first, as the CLI does: it holds the store lock shared, and a compressed layout tar
  // is spooled in its staging folder (gc leaves it alone while this process lives).
  const sink = await store.createSink();
  try {
    const layout = await openLayout(layoutPath, { spoolParent: sink.scratchDir });
    try {
      const { index } = await layout.readIndex(options.indexFile);
      const chosen = await selectManifest(layout, index.manifests, wanted);
      const [result] = await copyImages(layout, sink, [{ descriptor: chosen.descriptor, names }], { reporter: options.reporter, concurrency: options.concurrency });
      return result!;
    } finally {
      await layout.close();
    }
  } catch (err) {
    await sink.abort(); // a no-op when the engine already aborted or committed
    throw err;
  }
}

export interface PullOptions extends OperationOptions, RegistrySourceOptions {
  /** Platforms to keep from an index (`'all'` for every one). Default: every platform. */
  platforms?: Array<Platform | string> | 'all';
  /** Store names; default: the reference itself (name:tag, or name@digest when pulled by digest). */
  names?: string[];
}

/**
 * Pulls `ref` (`debian:bookworm`, `localhost:5000/team/app@sha256:…`) from its registry into the
 * store. Each verified blob is kept as it arrives, so a pull that fails resumes where it stopped.
 */
export async function pull(store: Store, ref: string, options: PullOptions = {}): Promise<CopyResult> {
  const reference = parseReference(ref);
  const names = options.names?.map(normalizeTagName) ?? [formatReference(reference.tag ? { ...reference, digest: undefined } : reference)];
  const platforms = options.platforms === undefined || options.platforms === 'all' ? 'all' : options.platforms.map((p) => (typeof p === 'string' ? parsePlatform(p) : p));
  const resolved = await resolve(reference, options);
  const sink = await store.createSink({ keepVerified: true });
  const [result] = await copyImages(resolved.source, sink, [{ descriptor: resolved.descriptor, names }], { platforms, reporter: options.reporter, concurrency: options.concurrency });
  return result!;
}

export interface SaveImagesOptions extends OperationOptions {
  /** Layout ref per image (`{ redis: 'redis-latest' }`); default: the image's tag. */
  refs?: Record<string, string>;
}

/**
 * Saves images of the store as one OCI layout tar (with Docker's manifest.json), to a file or a
 * stream, as `ocitool save --oci` does. An index the store holds partly is saved with the
 * platforms present (`leftOut` of each result names the rest).
 */
export async function save(store: Store, images: string[], output: string | Writable, options: SaveImagesOptions = {}): Promise<CopyResult[]> {
  const refFlags = parseRefFlags(Object.entries(options.refs ?? {}).map(([image, ref]) => `${image}=${ref}`));
  const spoolParent = path.join(store.root, 'staging');
  await mkdir(spoolParent, { recursive: true });
  const out = typeof output === 'string' ? { file: path.resolve(output) } : { stream: output, label: 'stream' };
  return saveImages(store, store.asSource(), images, { refFlags, output: out, spoolParent, ...(options.reporter ? { reporter: options.reporter } : {}) });
}

export interface LoadOptions extends OperationOptions {
  /** Make every ref of the archive a tag of this name (ref 16.04 becomes NAME:16.04). */
  name?: string;
  /** Load only these refs, each as the image named: `{ redis: 'redis-latest' }`. */
  refs?: Record<string, string>;
}

/**
 * Loads an OCI layout tar or a docker-save archive (a file, plain or compressed, or a stream)
 * into the store, naming images as `ocitool load` does (docs/save-load.md).
 */
export async function load(store: Store, input: string | Readable, options: LoadOptions = {}): Promise<CopyResult[]> {
  const refs = parseRefFlags(Object.entries(options.refs ?? {}).map(([image, ref]) => `${image}=${ref}`));
  const label = typeof input === 'string' ? input : 'stream';
  // The sink first (store lock held shared), and the archive spooled in its staging folder, as
  // `ocitool load` does: gc never removes a spool whose operation is alive.
  const sink = await store.createSink();
  try {
    const source = await openArchiveSource(typeof input === 'string' ? { file: input } : { stream: input, label }, sink.scratchDir);
    try {
      const names = assignLoadNames(source.images, { ...(options.name !== undefined ? { name: options.name } : {}), refs }, label);
      const roots = source.images
        .map((image, i) => ({ descriptor: image.descriptor, names: names[i]! }))
        .filter((root) => root.names.length > 0 || (refs.size === 0 && options.name === undefined));
      return await copyImages(source, sink, roots, { reporter: options.reporter, concurrency: options.concurrency });
    } finally {
      await source.close();
    }
  } catch (err) {
    await sink.abort(); // a no-op when the engine already aborted or committed
    throw err;
  }
}

export interface ConvertOptions extends OperationOptions {
  /** Layer compression to write; default gzip. */
  compress?: Compression;
}

/**
 * Converts a docker-save archive (or OCI layout tar) to an OCI layout: a folder, or a tar when
 * `output` ends in .tar, as `ocitool convert` does. Needs no store.
 */
export async function convert(archive: string, output: string, options: ConvertOptions = {}): Promise<CopyResult[]> {
  const out = path.resolve(output);
  const toTar = out.endsWith('.tar');
  // Spool beside a tar output so re-compressed layers are renamed into place, never copied.
  const spoolParent = toTar ? path.dirname(out) : os.tmpdir();
  await mkdir(spoolParent, { recursive: true });
  const spool = await mkdtemp(path.join(spoolParent, '.ocitool-convert-'));
  try {
    const source = await openArchiveSource({ file: archive }, spool);
    try {
      const sink = toTar ? new LayoutTarSink({ file: out }, { spoolParent: spool, backing: source }) : await LayoutFolderSink.create(out);
      return await convertArchive(source, sink, { compress: options.compress ?? 'gzip', spoolParent: spool, ...(options.reporter ? { reporter: options.reporter } : {}), ...(options.concurrency ? { concurrency: options.concurrency } : {}) });
    } finally {
      await source.close();
    }
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

// ---- The engine and its interfaces -----------------------------------------------------------

export { copyImages, DEFAULT_CONCURRENCY, type CopyRoot, type CopyOptions, type CopyResult } from './copy/engine.js';
export type { ImageSource, ImageSink, SinkRoot, BlobInfo } from './copy/transport.js';
export { silentReporter, type ProgressEvent, type Reporter, type PhaseName } from './copy/progress.js';

// ---- Transports --------------------------------------------------------------------------------

/** The store: a sink (`store.createSink()`), a source (`store.asSource()`), its tags. */
export { Store, STORE_FORMAT_VERSION, type StoreOptions } from './store/store.js';
export { StoreSink, type StoreSinkOptions } from './store/sink.js';
export type { TagRecord } from './store/tags.js';
export { describeImage, pickManifest, type ImageSummary, type StoredManifest } from './store/describe.js';
export { defaultStoreDir } from './store/paths.js';
export { gc, type GcResult } from './store/gc.js';
export { fsck, type FsckResult } from './store/fsck.js';

/** OCI image layouts: a folder or tar as a source, a folder as a sink. */
export { openLayout, LayoutSource } from './layout/source.js';
export { listManifests, selectManifest, type LayoutCandidate } from './layout/select.js';
export { LayoutFolderSink } from './layout/folder-sink.js';

/** Registries: resolve a reference to its root and a source for its blobs. */
export { resolve, openRegistrySource, RegistrySource, listRemotePlatforms, findCredentials, DEFAULT_RETRY_POLICY } from './registry/index.js';
export type { Resolved, RegistrySourceOptions, Credentials, RemotePlatform, RetryPolicy } from './registry/index.js';

/** Archives: docker save / OCI layout tars as sources; layout tars as sinks; save and convert. */
export { openArchiveSource, ArchiveSource, type ArchiveImage, type ArchiveFormat } from './archive/docker-archive.js';
export { openLayoutFolderImages, type ImagesSource } from './archive/layout-folder-images.js';
export { assignLoadNames, type LoadNaming } from './archive/load-names.js';
export { LayoutTarSink, type LayoutTarSinkOptions } from './archive/layout-tar-sink.js';
export { RecompressSink } from './archive/recompress-sink.js';
export { saveImages, type SaveOptions, type TagReader } from './archive/save.js';
export { convertArchive, type ConvertOptions as ConvertArchiveOptions } from './archive/convert.js';

// ---- The model ---------------------------------------------------------------------------------

export { OcitoolError, type ErrorCode } from './errors.js';
export { parseReference, formatReference, normalizeTagName, type Reference } from './oci/reference.js';
export { parsePlatform, parsePlatformList, formatPlatform, platformMatches, normalizePlatform, hostPlatform, type Platform } from './oci/platform.js';
export { parseDigest, type Digest } from './oci/digest.js';
export type { Descriptor, Manifest, Index } from './oci/schemas.js';
