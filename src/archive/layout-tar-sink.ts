/**
 * A deterministic OCI image layout tar, written as an `ImageSink`: the same images give the same
 * bytes. Entries are sorted by name, with mtime 0, uid/gid 0, no owner names and modes
 * 0644/0755; beside the layout it writes a Docker-style `manifest.json` (as Docker 25+ does) so
 * `docker load` accepts the file. Small blobs are held in memory (each under MAX_JSON_BYTES);
 * layers are spooled to a temp folder, or, when a `backing` source is given (the store for save,
 * the archive for convert), not copied at all until commit, when they stream from it through
 * VerifyingStream straight into the tar: one pass. Format notes: docs/save-load.md.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OcitoolError, withContext, withLaterFailure } from '../errors.js';
import type { BlobInfo, ImageSink, ImageSource, SinkRoot } from '../copy/transport.js';
import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.js';
import { isIndexType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import { walkImage } from '../oci/graph.js';
import { VerifyingStream } from '../oci/verify.js';
import { dockerManifestJson } from './docker-manifest-json.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME } from '../oci/annotations.js';
import { scratchPath } from '../util/scratch.js';
import { ioError, syncFile, syncFolder } from '../util/output.js';

/** Every entry's mtime: the epoch, as skopeo writes oci-archive, so output does not depend on when it ran. */
const FIXED_MTIME = new Date(0);
const OCI_LAYOUT = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

type Held = { raw: Buffer; size: number } | { file: string; size: number };

export interface LayoutTarSinkOptions {
  /** Where layers are spooled (a temp folder is made inside and removed at the end). */
  spoolParent: string;
  /** Where a layer the sink does not hold is read from at commit (its `hasBlob` says true for it). */
  backing?: ImageSource;
  /** Write manifest.json beside the layout (default true). */
  dockerManifest?: boolean;
}

/** The layout tar sink; `names` of each root are layout refs (see `setImageName`). */
export class LayoutTarSink implements ImageSink {
  readonly description: string;
  readonly partialIndex = 'rewrite' as const;
  private readonly held = new Map<string, Held>();
  private readonly imageNames = new Map<string, string>();
  /** Made on first use; a promise so concurrent writers share one folder. */
  private spoolDir?: Promise<string>;

  /** `output` is a file path (written to a scratch name beside it, synced and renamed at commit) or a stream (stdout). */
  constructor(private readonly output: { file: string } | { stream: Writable; label: string }, private readonly options: LayoutTarSinkOptions) {
    this.description = 'file' in output ? `layout tar ${output.file}` : `layout tar on ${output.label}`;
  }

  /** Records the full image name for a ref, written as `io.containerd.image.name` and in manifest.json. */
  setImageName(ref: string, imageName: string): void {
    this.imageNames.set(ref, imageName);
  }

  async hasBlob(desc: Descriptor, info: BlobInfo): Promise<boolean> {
    if (this.held.has(desc.digest)) return true;
    // Layers come from the backing source at commit, streamed once into the tar.
    return info.kind === 'layer' && this.options.backing !== undefined;
  }

  async readSmallBlob(desc: Descriptor): Promise<Buffer | undefined> {
    const held = this.held.get(desc.digest);
    return held && 'raw' in held ? held.raw : undefined;
  }

  async writeBlob(desc: Descriptor, data: Readable, _info: BlobInfo): Promise<void> {
    const spoolDir = await (this.spoolDir ??= mkdtemp(path.join(this.options.spoolParent, 'layout-tar-')));
    const file = path.join(spoolDir, digestHex(desc.digest));
    await pipeline(data, createWriteStream(file));
    this.held.set(desc.digest, { file, size: desc.size });
  }

  /** Takes a file already holding `desc`'s verified bytes (a re-compressed layer) without copying it. */
  async adoptFile(desc: Descriptor, file: string): Promise<void> {
    const spoolDir = await (this.spoolDir ??= mkdtemp(path.join(this.options.spoolParent, 'layout-tar-')));
    const target = path.join(spoolDir, digestHex(desc.digest));
    await rename(file, target);
    this.held.set(desc.digest, { file: target, size: desc.size });
  }

  async writeSmallBlob(desc: Descriptor, raw: Buffer): Promise<void> {
    this.held.set(desc.digest, { raw, size: raw.length });
  }

  async commit(roots: SinkRoot[]): Promise<void> {
    const blobs = await this.reachableBlobs(roots);
    const index = this.indexJson(roots);
    const entries: { name: string; desc?: Descriptor; raw?: Buffer }[] = [];
    for (const desc of blobs.values()) entries.push({ name: `blobs/${digestAlgorithm(desc.digest)}/${digestHex(desc.digest)}`, desc });
    entries.push({ name: 'index.json', raw: index });
    entries.push({ name: 'oci-layout', raw: OCI_LAYOUT });
    if (this.options.dockerManifest !== false) {
      entries.push({ name: 'manifest.json', raw: await dockerManifestJson(roots, this.imageNames, (d) => this.smallBlob(d)) });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const dirs = [...new Set(blobs.size ? ['blobs/', ...[...blobs.values()].map((d) => `blobs/${digestAlgorithm(d.digest)}/`)] : [])].sort();

    // A file output is written beside its target under a scratch name (util/scratch.ts), then
    // fsync, rename, fsync of the folder: a crash leaves the old file or the whole new one.
    const target = 'file' in this.output ? scratchPath(this.output.file) : undefined;
    const handle = target ? await open(target, 'wx', 0o644).catch((err: unknown) => { throw ioError((this.output as { file: string }).file, err); }) : undefined;
    // The stream closes the handle when it ends (a handle it does not close never emits 'close',
    // and pipeline would wait for it forever).
    const out = handle ? handle.createWriteStream({ highWaterMark: 256 * 1024 }) : (this.output as { stream: Writable }).stream;
    const pack = tar.pack();
    // The output's outcome, as a value: its write error (ENOSPC, EPIPE) can come while an entry is
    // still streaming, before anything awaits it, and is read below in both paths.
    const written: Promise<unknown> = pipeline(pack, out, { end: handle !== undefined }).then(() => undefined, (err: unknown) => err ?? new Error('the output failed'));
    try {
      const header = (name: string, size: number, type: 'file' | 'directory' = 'file') =>
        ({ name, size, type, mode: type === 'directory' ? 0o755 : 0o644, mtime: FIXED_MTIME, uid: 0, gid: 0, uname: '', gname: '' });
      const pending = [...dirs.map((name) => ({ name, dir: true as const })), ...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of pending) {
        // An entry's error is the pack's (the output failed), reported through `written` below.
        if ('dir' in entry) {
          pack.entry(header(entry.name, 0, 'directory')).on('error', () => {});
        } else if (entry.raw) {
          pack.entry(header(entry.name, entry.raw.length), entry.raw).on('error', () => {});
        } else {
          const desc = entry.desc!;
          const input = await this.openForCommit(desc);
          const stream = pack.entry(header(entry.name, desc.size));
          stream.on('error', () => {});
          await pipeline(input, stream);
        }
      }
      pack.finalize();
      const writeErr = await written;
      if (writeErr !== undefined) throw writeErr;
      if (handle && target) {
        const file = (this.output as { file: string }).file;
        await syncFile(target).catch((err: unknown) => { throw ioError(file, err); });
        await rename(target, file).catch((err: unknown) => { throw ioError(file, err); });
        await syncFolder(path.dirname(file)).catch((err: unknown) => { throw ioError(path.dirname(file), err, 'cannot sync the folder'); });
      }
    } catch (err) {
      pack.destroy(err as Error);
      await written; // settles (never rejects): its error is read by `failure`
      // Closed by the stream already (a second close does nothing), or closed now.
      let closeErr: unknown;
      if (handle) await handle.close().catch((e: unknown) => (closeErr = e));
      if (target) await rm(target, { force: true });
      const failure = await this.failure(written, err);
      throw closeErr === undefined ? failure : withLaterFailure(failure, closeErr, `closing ${target}`);
    } finally {
      await this.cleanup();
    }
  }

  /**
   * One error for a failed commit: the output's own write error (ENOSPC, EPIPE, EIO) named by the
   * output path when there is one (the entry being streamed then only says "premature close"),
   * else the error that stopped the commit (a source that failed to read or verify).
   */
  private async failure(written: Promise<unknown>, err: unknown): Promise<OcitoolError> {
    if (err instanceof OcitoolError) return err;
    const label = 'file' in this.output ? this.output.file : this.output.label;
    const writeErr = await written;
    const outputErr = writeErr !== undefined && writeErr !== err ? writeErr : (err as NodeJS.ErrnoException | undefined)?.syscall === 'write' ? err : undefined;
    if (outputErr !== undefined) return ioError(label, outputErr);
    return withContext(this.description, err);
  }

  async abort(): Promise<void> {
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    if (this.spoolDir) await rm(await this.spoolDir, { recursive: true, force: true });
    this.spoolDir = undefined;
  }

  private smallBlob(desc: Descriptor): Buffer {
    const held = this.held.get(desc.digest);
    if (!held || !('raw' in held)) throw new OcitoolError('BLOB_MISSING', `${this.description}: ${desc.digest} was not written`);
    return held.raw;
  }

  /**
   * Every blob under the roots, from the manifests and indexes the engine wrote (the graph
   * walker; every child a written index lists was written too, so a missing one is an error).
   */
  private async reachableBlobs(roots: SinkRoot[]): Promise<Map<string, Descriptor>> {
    const out = new Map<string, Descriptor>();
    for (const root of roots) {
      await walkImage<void>(root.descriptor, {
        read: async (desc) => (out.has(desc.digest) ? undefined : this.smallBlob(desc)),
        config: 'never',
        visitIndex: async (node) => {
          out.set(node.descriptor.digest, node.descriptor);
        },
        visitManifest: async ({ descriptor, manifest }) => {
          out.set(descriptor.digest, descriptor);
          out.set(manifest.config.digest, manifest.config);
          for (const layer of manifest.layers) out.set(layer.digest, layer);
        },
      });
    }
    return out;
  }

  private indexJson(roots: SinkRoot[]): Buffer {
    const manifests: Descriptor[] = [];
    for (const root of roots) {
      const { mediaType, digest, size } = root.descriptor;
      const base: Descriptor = { mediaType: mediaType ?? (isIndexType(mediaType) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json'), digest, size };
      if (root.names.length === 0) manifests.push(base);
      for (const ref of root.names) {
        const imageName = this.imageNames.get(ref);
        manifests.push({ ...base, annotations: { ...(imageName ? { [ANNOTATION_IMAGE_NAME]: imageName } : {}), [ANNOTATION_REF_NAME]: ref } });
      }
    }
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  }

  /** The bytes of a blob for the tar: held ones as they are, backed ones verified as they stream. */
  private async openForCommit(desc: Descriptor): Promise<Readable> {
    const held = this.held.get(desc.digest);
    if (held) return 'raw' in held ? Readable.from([held.raw]) : createReadStream(held.file, { highWaterMark: 256 * 1024 });
    if (!this.options.backing) throw new OcitoolError('BLOB_MISSING', `${this.description}: blob ${desc.digest} was never written`);
    const input = await this.options.backing.openBlob(desc);
    const verifier = new VerifyingStream(desc, `blob ${desc.digest} from ${this.options.backing.description}`);
    input.on('error', (err) => verifier.destroy(err));
    return input.pipe(verifier);
  }
}
