/**
 * The image graph walker: the one place that knows how an image hangs together (index → nested
 * index → manifest → config and layers, with the diff_id of each tar layer), which children of an
 * index to follow (platforms, recorded presence), and the cycle and depth limits. It does no I/O:
 * callers pass `read` (store, registry, layout, held bytes) and get each node after its children
 * (post-order, so a copy writes blobs before manifests and manifests before indexes).
 */
import { OcitoolError } from '../errors.js';
import type { Digest } from './digest.js';
import { isIndexType, isTarLayerType, MediaType } from './media-types.js';
import { formatPlatform, platformMatches, type Platform } from './platform.js';
import { ImageConfigSchema, parseImageDocument, parseJson, type Descriptor, type ImageConfig, type Index, type Manifest } from './schemas.js';
import { verifyBuffer } from './verify.js';

/** Nested indexes deeper than this are refused (a cycle or an attack). */
export const MAX_INDEX_DEPTH = 8;

/**
 * Which children of a partly held index are present: each present child's digest maps to `true`
 * (the child is held whole) or to the presence of that child (a partly held nested index).
 */
export interface PresenceTree {
  readonly [digest: string]: Presence;
}
/**
 * `true`: held whole. `'held'`: whatever the store holds (tags written before presence was a
 * tree listed only the root's children; what is under a nested index is found by looking).
 */
export type Presence = true | 'held' | PresenceTree;

/** A tag's presence field: a tree, or the flat digest list of older tag files. */
export function presenceOf(recorded: readonly Digest[] | PresenceTree | undefined): Presence {
  if (recorded === undefined) return true;
  if (Array.isArray(recorded)) return Object.fromEntries(recorded.map((d) => [d, 'held' as const]));
  return recorded as PresenceTree;
}

/** The presence tree with every digest passed through `map` (a sink that rewrote children). */
export function mapPresence(tree: PresenceTree, map: (d: Digest) => Digest): PresenceTree {
  return Object.fromEntries(Object.entries(tree).map(([d, sub]) => [map(d as Digest), typeof sub === 'object' ? mapPresence(sub, map) : sub]));
}

/** Both presences together (a second partial pull of the same index adds to the first). */
export function mergePresence(a: Presence, b: Presence): Presence {
  if (a === true || b === true) return true;
  if (a === 'held' || b === 'held') return 'held';
  const out: Record<string, Presence> = { ...a };
  for (const [d, sub] of Object.entries(b)) out[d] = out[d] === undefined ? sub : mergePresence(out[d]!, sub);
  return out;
}

export type NodeKind = 'index' | 'manifest' | 'config';

/** Returns a document's raw bytes, verified by the caller; `undefined` when the reader does not hold it. */
export type ReadDocument = (desc: Descriptor, kind: NodeKind) => Promise<Buffer | undefined>;

export interface LayerRef {
  descriptor: Descriptor;
  /** For tar layers of an image whose config was read: the diff_id from the config. */
  diffId?: Digest;
  tar: boolean;
}

export interface ManifestNode {
  descriptor: Descriptor;
  raw: Buffer;
  manifest: Manifest;
  /** The config's bytes, when read (see WalkOptions.config) and held. */
  configRaw?: Buffer;
  config?: ImageConfig;
  /** True when the config is an image config (its layers must be tars, one diff_id each). */
  isImage: boolean;
  layers: LayerRef[];
  /** The descriptor's platform, else the config's. */
  platform?: Platform;
  /** Digests of the indexes above it, outermost first. */
  ancestors: Digest[];
}

export interface IndexChild<R> {
  /** The child as the index names it. */
  descriptor: Descriptor;
  result: R;
  presence: true | PresenceTree;
}

export interface IndexNode<R> {
  descriptor: Descriptor;
  raw: Buffer;
  index: Index;
  /** Children followed, in index order, with what the visitor returned for them. */
  children: IndexChild<R>[];
  /** True when every child (and everything below it) was followed. */
  whole: boolean;
  ancestors: Digest[];
}

export interface Walked<R> {
  result: R;
  /** What of the root was followed: `true` (all of it) or the tree of followed children. */
  presence: true | PresenceTree;
  /** Manifests (or, where not read, indexes) left out: other platforms, or not present. */
  leftOut: Descriptor[];
}

export interface WalkOptions<R> {
  read: ReadDocument;
  /** Index children to follow by platform (nested indexes are entered and kept if anything in them matches). */
  platforms?: Platform[] | 'all';
  /** What is recorded as held (store tags); children outside it are not read. */
  presence?: Presence;
  /**
   * When to read a manifest's config: 'always' (default; checks layer types and the diff_id
   * count), 'platform' (only when the descriptor names no platform), 'never'.
   */
  config?: 'always' | 'platform' | 'never';
  /** What the messages call the root ("image docker.io/library/x:1"); default its digest. */
  label?: string;
  visitManifest(node: ManifestNode): Promise<R>;
  visitIndex(node: IndexNode<R>): Promise<R>;
  /** A document `read` did not hold. `expected` when the presence was 'held' (not a problem). */
  absent?(desc: Descriptor, kind: NodeKind, expected: boolean): void;
}

/** A node that was followed, or `undefined` when nothing of it was (absent, or no platform matched). */
type Step<R> = (Walked<R> & { matched: true }) | { matched: false; leftOut: Descriptor[]; available: string[] };

/** Walks the graph under `root`; throws PLATFORM when a filter matches nothing at all. */
export async function walkImage<R>(root: Descriptor, options: WalkOptions<R>): Promise<Walked<R> | undefined> {
  const step = await walkNode(root, options, [], options.presence ?? true);
  if (step.matched) return step;
  if (options.platforms && options.platforms !== 'all' && step.available.length > 0) {
    const wanted = options.platforms.map(formatPlatform).join(', ');
    throw new OcitoolError('PLATFORM', `${options.label ?? `index ${root.digest}`} has no manifest for ${wanted} (it has: ${[...new Set(step.available)].join(', ')})`);
  }
  return undefined;
}

function kindOf(desc: Descriptor): 'index' | 'manifest' {
  return isIndexType(desc.mediaType) ? 'index' : 'manifest';
}

async function walkNode<R>(desc: Descriptor, options: WalkOptions<R>, ancestors: Digest[], presence: Presence): Promise<Step<R>> {
  if (ancestors.includes(desc.digest)) {
    throw new OcitoolError('LAYOUT_INVALID', `index ${ancestors[ancestors.length - 1]} names itself (directly or through ${desc.digest})`);
  }
  if (ancestors.length > MAX_INDEX_DEPTH) throw new OcitoolError('LAYOUT_INVALID', `indexes nested deeper than ${MAX_INDEX_DEPTH} at ${desc.digest}`);
  const kind = kindOf(desc);
  const raw = await options.read(desc, kind);
  if (raw === undefined) {
    options.absent?.(desc, kind, presence === 'held');
    return { matched: false, leftOut: [desc], available: [] };
  }
  const doc = parseImageDocument(raw, desc.mediaType, `${kind} ${desc.digest}`);
  if (doc.kind === 'manifest') {
    const node = await manifestNode(desc, raw, doc.manifest, options, ancestors);
    return { matched: true, result: await options.visitManifest(node), presence: true, leftOut: [] };
  }
  return walkIndex(desc, raw, doc.index, options, [...ancestors, desc.digest], presence);
}

async function walkIndex<R>(desc: Descriptor, raw: Buffer, index: Index, options: WalkOptions<R>, ancestors: Digest[], presence: Presence): Promise<Step<R>> {
  const platforms = options.platforms ?? 'all';
  const children: IndexChild<R>[] = [];
  const leftOut: Descriptor[] = [];
  const available: string[] = [];
  for (const child of index.manifests) {
    if (child.digest === desc.digest) throw new OcitoolError('LAYOUT_INVALID', `index ${desc.digest} names itself`);
    const childPresence: Presence | undefined = typeof presence === 'object' ? presence[child.digest] : presence;
    if (childPresence === undefined) {
      leftOut.push(child);
      continue;
    }
    const nested = isIndexType(child.mediaType);
    if (!nested) {
      available.push(formatPlatform(child.platform));
      const match = platforms === 'all' || (child.platform !== undefined && platforms.some((p) => platformMatches(child.platform!, p)));
      if (!match) {
        leftOut.push(child);
        continue;
      }
    }
    const step = await walkNode(child, options, ancestors, childPresence);
    if (!step.matched) {
      leftOut.push(...step.leftOut);
      available.push(...step.available);
      continue;
    }
    children.push({ descriptor: child, result: step.result, presence: step.presence });
    leftOut.push(...step.leftOut);
  }
  if (children.length === 0 && index.manifests.length > 0) return { matched: false, leftOut, available };
  const whole = leftOut.length === 0 && children.every((c) => c.presence === true);
  const result = await options.visitIndex({ descriptor: desc, raw, index, children, whole, ancestors: ancestors.slice(0, -1) });
  const tree: PresenceTree = Object.fromEntries(children.map((c) => [c.descriptor.digest, c.presence]));
  return { matched: true, result, presence: whole ? true : tree, leftOut };
}

async function manifestNode<R>(desc: Descriptor, raw: Buffer, manifest: Manifest, options: WalkOptions<R>, ancestors: Digest[]): Promise<ManifestNode> {
  if (manifest.config.digest === desc.digest) throw new OcitoolError('LAYOUT_INVALID', `manifest ${desc.digest} names itself as its config`);
  const isImage = manifest.config.mediaType === MediaType.ociConfig || manifest.config.mediaType === MediaType.dockerConfig;
  const mode = options.config ?? 'always';
  const wantConfig = mode === 'always' || (mode === 'platform' && !desc.platform);
  const configRaw = wantConfig ? await options.read(manifest.config, 'config') : undefined;
  if (wantConfig && configRaw === undefined) options.absent?.(manifest.config, 'config', false);
  const config = configRaw && isImage ? parseJson(configRaw, ImageConfigSchema, `config ${manifest.config.digest}`) : undefined;
  const diffIds = config?.rootfs.diff_ids;
  if (mode === 'always' && isImage && config) {
    // An image's layers must be tars we can read (plain, gzip, zstd; OCI or Docker types).
    const unknown = manifest.layers.find((l) => !isTarLayerType(l.mediaType));
    if (unknown) throw new OcitoolError('MEDIA_TYPE', `manifest ${desc.digest}: layer ${unknown.digest} has unsupported media type ${unknown.mediaType}`);
    const tarCount = manifest.layers.length;
    if (tarCount !== diffIds!.length) {
      throw new OcitoolError('LAYOUT_INVALID', `manifest ${desc.digest}: ${tarCount} layers but the config lists ${diffIds!.length} diff_ids`);
    }
  }
  let tarIndex = 0;
  const layers: LayerRef[] = manifest.layers.map((layer) => {
    const tar = isTarLayerType(layer.mediaType);
    const diffId = tar && diffIds ? diffIds[tarIndex++] : undefined;
    return { descriptor: layer, tar, ...(diffId ? { diffId } : {}) };
  });
  let platform = desc.platform;
  if (!platform && config?.os && config.architecture) platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  return { descriptor: desc, raw, manifest, ...(configRaw ? { configRaw } : {}), ...(config ? { config } : {}), isImage, layers, ...(platform ? { platform } : {}), ancestors };
}

/** The platform of the one manifest `root` names (its descriptor's, else its config's), read and verified through `read`. */
export async function manifestPlatform(root: Descriptor, read: (desc: Descriptor) => Promise<Buffer>, label: string): Promise<Platform | undefined> {
  let platform: Platform | undefined;
  await walkImage<void>(root, {
    read: async (desc, kind) => {
      const raw = await read(desc);
      verifyBuffer(raw, desc, `${kind} ${desc.digest} of ${label}`);
      return raw;
    },
    config: 'platform',
    visitIndex: async () => {},
    visitManifest: async (node) => {
      platform = node.platform;
    },
  });
  return platform;
}
