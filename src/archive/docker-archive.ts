/**
 * Reads `docker save` archives and OCI layout tars as an `ImageSource`. Three shapes are handled:
 * the classic format (manifest.json, `<id>/layer.tar`, `<config>.json`; presented through
 * synthetic manifests, see classic-manifest.ts), the Docker 25+ format and docker's containerd
 * store (an OCI layout with a manifest.json beside it: index.json is used, so manifest digests are
 * the archive's own), and plain OCI layout tars. Decisions are in docs/save-load.md.
 */
import { Readable } from 'node:stream';
import { OcitoolError, withContext } from '../errors.js';
import type { ImageSource } from '../copy/transport.js';
import { digestHex, digestOf, parseDigest, type Digest, digestAlgorithm } from '../oci/digest.js';
import { detectCompression, MAGIC_BYTES } from '../compress/index.js';
import { MediaType, ociLayerType } from '../oci/media-types.js';
import {
  DockerArchiveManifestSchema, ImageConfigSchema, MAX_JSON_BYTES, parseJson,
  type Descriptor, type DockerArchiveEntry,
} from '../oci/schemas.js';
import { syntheticManifest } from './classic-manifest.js';
import { normalizeEntryName } from '../tar/entry-path.js';
import { openTarArchive, TarArchive } from '../tar/archive.js';
import { hashEntry } from './hash-entry.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME } from '../oci/annotations.js';
import { LayoutSource } from '../layout/source.js';
import { TarTree } from '../layout/tree.js';


export type ArchiveFormat = 'docker-classic' | 'oci-layout';

/** One image found in an archive, with every name the archive gives it. */
export interface ArchiveImage {
  descriptor: Descriptor;
  /** `org.opencontainers.image.ref.name` of the index.json entry (OCI layouts). */
  refName?: string;
  /** `io.containerd.image.name`, or for docker archives the RepoTags of the matching entry. */
  imageNames: string[];
}

/** An archive opened for reading: its format, its images, and an ImageSource for its blobs. */
export class ArchiveSource implements ImageSource {
  readonly description: string;
  readonly images: ArchiveImage[] = [];
  format: ArchiveFormat = 'oci-layout';
  /** Blobs held in memory (synthetic manifests), by digest. */
  private readonly memory = new Map<string, Buffer>();
  /** Blob digest → archive entry name, when not at blobs/<alg>/<hex>. */
  private readonly paths = new Map<string, string>();

  constructor(readonly archive: TarArchive) {
    this.description = `archive ${archive.label}`;
  }

  async readBlob(desc: Descriptor): Promise<Buffer> {
    const held = this.memory.get(desc.digest);
    if (held) return held;
    // One byte over the cap so the engine's size check reports an oversized document.
    return this.archive.readEntry(this.blobPath(desc.digest), MAX_JSON_BYTES + 1, `blob ${desc.digest}`);
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const held = this.memory.get(desc.digest);
    if (held) return Readable.from([held]);
    return this.archive.openEntry(this.archive.mustResolve(this.blobPath(desc.digest), `blob ${desc.digest}`));
  }

  async close(): Promise<void> {
    await this.archive.close();
  }

  private blobPath(digest: Digest): string {
    return this.paths.get(digest) ?? `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
  }

  /** Reads index.json and oci-layout through the layout reader: the archive is (also) an OCI layout. */
  async loadLayout(): Promise<void> {
    const layout = new LayoutSource(new TarTree(this.archive));
    await layout.checkMarker();
    const { index } = await layout.readIndex();
    const repoTags = await this.repoTagsByConfig();
    for (const desc of index.manifests) {
      const annotations = desc.annotations ?? {};
      const names = annotations[ANNOTATION_IMAGE_NAME] ? [annotations[ANNOTATION_IMAGE_NAME]] : [];
      if (names.length === 0 && repoTags.size > 0) names.push(...(await this.repoTagsFor(desc, repoTags)));
      this.images.push({ descriptor: desc, refName: annotations[ANNOTATION_REF_NAME], imageNames: names });
    }
    this.format = 'oci-layout';
  }

  /** Reads a classic manifest.json and builds a synthetic manifest for each entry. */
  async loadClassic(entries: DockerArchiveEntry[]): Promise<void> {
    const label = this.archive.label;
    for (const [i, entry] of entries.entries()) {
      const what = `manifest.json entry ${i}`;
      const configPath = normalizeEntryName(entry.Config, `${label}: ${what} Config`);
      const configRaw = await this.archive.readEntry(configPath, MAX_JSON_BYTES, `${what} config`);
      const config = parseJson(configRaw, ImageConfigSchema, `${label}: config ${configPath}`);
      const configDigest = digestOf(configRaw);
      this.memory.set(configDigest, configRaw);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== entry.Layers.length) {
        throw new OcitoolError('ARCHIVE_INVALID', `${label}: ${what} lists ${entry.Layers.length} layers but its config ${configPath} has ${diffIds.length} diff_ids`);
      }
      const layers = [];
      for (const [j, layerName] of entry.Layers.entries()) {
        const layerPath = normalizeEntryName(layerName, `${label}: ${what} layer ${j}`);
        const file = this.archive.mustResolve(layerPath, `${what} layer`);
        const compression = detectCompression(await this.peekEntry(layerPath));
        if (compression === 'none') {
          // docker writes layer.tar uncompressed, so its digest is the diff_id; the engine verifies it.
          this.paths.set(diffIds[j]!, layerPath);
          layers.push({ digest: diffIds[j]!, size: file.size });
        } else if (compression === 'gzip' || compression === 'zstd') {
          // Some tools store compressed layer files; their digest is not in the archive, so hash once.
          const digest = await hashEntry(this.archive, file);
          this.paths.set(digest, layerPath);
          layers.push({ digest, size: file.size, mediaType: ociLayerType(compression) });
        } else {
          throw new OcitoolError('ARCHIVE_INVALID', `${label}: layer ${layerPath} is ${compression}-compressed; docker archives hold tar, gzip or zstd layers`);
        }
      }
      const synthetic = syntheticManifest({ digest: configDigest, size: configRaw.length }, layers);
      this.memory.set(synthetic.descriptor.digest, synthetic.raw);
      this.images.push({ descriptor: synthetic.descriptor, imageNames: entry.RepoTags ?? [] });
    }
    this.format = 'docker-classic';
  }

  private async peekEntry(name: string): Promise<Buffer> {
    const stream = this.archive.openEntry(this.archive.mustResolve(name, 'layer'));
    for await (const chunk of stream) {
      stream.destroy();
      return (chunk as Buffer).subarray(0, MAGIC_BYTES);
    }
    return Buffer.alloc(0);
  }

  /** For OCI layouts with a docker manifest.json: RepoTags by config digest. */
  private async repoTagsByConfig(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (!this.archive.resolve('manifest.json')) return out;
    const raw = await this.archive.readEntry('manifest.json', MAX_JSON_BYTES, 'manifest.json');
    for (const entry of parseJson(raw, DockerArchiveManifestSchema, `${this.archive.label}: manifest.json`)) {
      const configPath = normalizeEntryName(entry.Config, `${this.archive.label}: manifest.json Config`);
      const m = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(configPath);
      if (!m) continue;
      out.set(parseDigest(`${m[1]}:${m[2]}`), entry.RepoTags ?? []);
    }
    return out;
  }

  /** RepoTags of the manifest.json entry whose config is that of `desc` (a manifest, not an index). */
  private async repoTagsFor(desc: Descriptor, byConfig: Map<string, string[]>): Promise<string[]> {
    if (desc.mediaType !== MediaType.ociManifest && desc.mediaType !== MediaType.dockerManifest) return [];
    try {
      const raw = await this.readBlob(desc);
      const parsed = JSON.parse(raw.toString('utf8')) as { config?: { digest?: string } };
      return byConfig.get(parsed.config?.digest ?? '') ?? [];
    } catch {
      return []; // the engine reports a bad manifest when it copies it
    }
  }
}

/**
 * Opens a docker-save archive or OCI layout tar (plain or compressed; a file, or a stream such as
 * stdin) and finds its images. `spoolParent` is where a compressed or piped archive is unpacked.
 */
export async function openArchiveSource(source: { file: string } | { stream: Readable; label: string }, spoolParent: string): Promise<ArchiveSource> {
  const archive = await openTarArchive(source, spoolParent);
  const result = new ArchiveSource(archive);
  try {
    if (archive.entries.size === 0) {
      throw new OcitoolError('ARCHIVE_INVALID', `${archive.label}: empty archive: no manifest.json or index.json`);
    }
    if (archive.resolve('index.json') && archive.resolve('oci-layout')) {
      await result.loadLayout();
    } else if (archive.resolve('manifest.json')) {
      const raw = await archive.readEntry('manifest.json', MAX_JSON_BYTES, 'manifest.json');
      await result.loadClassic(parseJson(raw, DockerArchiveManifestSchema, `${archive.label}: manifest.json`));
    } else {
      throw new OcitoolError('ARCHIVE_INVALID', `${archive.label}: neither a docker archive (no manifest.json) nor an OCI layout (no index.json and oci-layout)`);
    }
    if (result.images.length === 0) throw new OcitoolError('ARCHIVE_INVALID', `${archive.label}: the archive lists no images`);
    return result;
  } catch (err) {
    await archive.close();
    throw err instanceof OcitoolError && err.message.startsWith(archive.label) ? err : withContext(archive.label, err);
  }
}
