/**
 * Layer re-compression for `convert --compress gzip|zstd|none`, as an `ImageSink` wrapped around
 * the real sink, so the copy engine stays unchanged: the engine reads and verifies each source
 * layer as usual and hands the verified stream to `writeBlob`, which in one pass decompresses it,
 * hashes the tar (checked against the config's diff_id), compresses it and hashes and counts the
 * output while writing it to a spool file. Only then is the new digest known, so the layer is
 * passed to the inner sink under its new descriptor (adopted without a copy when the inner sink
 * can, else streamed once more through VerifyingStream). The engine writes a manifest only after
 * its layers, so `writeSmallBlob` rewrites it with the new layer descriptors (config bytes
 * unchanged), and indexes and roots are rewritten likewise.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcitoolError } from '../errors.js';
import type { BlobInfo, ImageSink, SinkRoot } from '../copy/transport.js';
import { createCompressor, createDecompressor, type CompressOptions } from '../compress/index.js';
import { digestOf, type Digest } from '../oci/digest.js';
import { mapPresence } from '../oci/graph.js';
import { layerCompression, ociLayerType, type Compression } from '../oci/media-types.js';
import { parseImageDocument, type Descriptor } from '../oci/schemas.js';
import { VerifyingStream } from '../oci/verify.js';

/** A sink that can take ownership of a file holding a blob's verified bytes. */
interface AdoptingSink extends ImageSink {
  adoptFile(desc: Descriptor, file: string): Promise<void>;
}

export class RecompressSink implements ImageSink {
  readonly description: string;
  readonly partialIndex: 'keep' | 'rewrite';
  /** Original digest → descriptor written to the inner sink. */
  private readonly mapped = new Map<string, Descriptor>();
  /** Made on first use; a promise so concurrent writers share one folder. */
  private spoolDir?: Promise<string>;

  constructor(private readonly inner: ImageSink, private readonly target: Compression, private readonly spoolParent: string, private readonly compressOptions: CompressOptions = {}) {
    this.description = inner.description;
    this.partialIndex = inner.partialIndex;
  }

  private converts(desc: Descriptor, info: BlobInfo): boolean {
    const from = layerCompression(desc.mediaType);
    return info.kind === 'layer' && from !== undefined && (from !== this.target || desc.mediaType !== ociLayerType(this.target));
  }

  async hasBlob(desc: Descriptor, info: BlobInfo): Promise<boolean> {
    if (this.mapped.has(desc.digest)) return true;
    if (this.converts(desc, info)) return false;
    if (info.kind === 'blob') return false; // manifests and indexes may be rewritten; configs are small
    return this.inner.hasBlob(desc, info);
  }

  async writeBlob(desc: Descriptor, data: Readable, info: BlobInfo): Promise<void> {
    if (!this.converts(desc, info)) {
      await this.inner.writeBlob(desc, data, info);
      return;
    }
    const spoolDir = await (this.spoolDir ??= mkdtemp(path.join(this.spoolParent, 'recompress-')));
    const file = path.join(spoolDir, `${desc.digest.replace(':', '-')}`);
    // An uncompressed source layer's digest is its diff_id, and the engine's VerifyingStream
    // already checks these bytes against it: hashing them a second time would only repeat that.
    const plainSource = layerCompression(desc.mediaType) === 'none';
    const diffHash = plainSource ? undefined : createHash('sha256');
    const outHash = createHash('sha256');
    let outSize = 0;
    const what = `layer ${desc.digest}`;
    const decompressor = createDecompressor(layerCompression(desc.mediaType)!);
    decompressor.on('error', (err) => {
      if (!(err instanceof OcitoolError)) err.message = `${what}: ${layerCompression(desc.mediaType)} data is corrupt: ${err.message}`;
    });
    await pipeline(
      data,
      decompressor,
      tap((chunk) => diffHash?.update(chunk)),
      createCompressor(this.target, this.compressOptions),
      tap((chunk) => { outHash.update(chunk); outSize += chunk.length; }),
      createWriteStream(file),
    );
    const diffId = diffHash ? `sha256:${diffHash.digest('hex')}` : desc.digest;
    if (info.diffId && diffId !== info.diffId) {
      throw new OcitoolError('DIFFID_MISMATCH', `${what}: uncompressed content has digest ${diffId} but the config's diff_id is ${info.diffId}`, { details: { expected: info.diffId, actual: diffId } });
    }
    const newDesc: Descriptor = { mediaType: ociLayerType(this.target), digest: `sha256:${outHash.digest('hex')}` as Digest, size: outSize };
    if ('adoptFile' in this.inner) {
      await (this.inner as AdoptingSink).adoptFile(newDesc, file);
    } else {
      const verifier = new VerifyingStream(newDesc, `re-compressed ${what}`);
      await this.inner.writeBlob(newDesc, createReadStream(file).pipe(verifier), info);
      await rm(file, { force: true });
    }
    this.mapped.set(desc.digest, newDesc);
  }

  async writeSmallBlob(desc: Descriptor, raw: Buffer): Promise<void> {
    const rewritten = this.rewrite(desc, raw);
    if (rewritten.desc.digest !== desc.digest) this.mapped.set(desc.digest, rewritten.desc);
    if (!(await this.inner.hasBlob(rewritten.desc, { kind: 'blob' }))) await this.inner.writeSmallBlob(rewritten.desc, rewritten.raw);
  }

  async commit(roots: SinkRoot[]): Promise<void> {
    await this.inner.commit(roots.map((root) => ({
      ...root,
      descriptor: this.mapDescriptor(root.descriptor),
      ...(root.presentChildren ? { presentChildren: mapPresence(root.presentChildren, (d) => this.mapped.get(d)?.digest ?? d) } : {}),
    })));
    await this.cleanup();
  }

  async abort(): Promise<void> {
    await this.inner.abort();
    await this.cleanup();
  }

  /** The descriptor a root or child has in the inner sink (annotations and platform kept). */
  mapDescriptor(desc: Descriptor): Descriptor {
    const to = this.mapped.get(desc.digest);
    return to ? { ...desc, mediaType: to.mediaType, digest: to.digest, size: to.size } : desc;
  }

  private rewrite(desc: Descriptor, raw: Buffer): { desc: Descriptor; raw: Buffer } {
    const isDoc = desc.mediaType.includes('manifest') || desc.mediaType.includes('index');
    if (!isDoc) return { desc, raw }; // configs keep their bytes, so the image ID is unchanged
    const doc = parseImageDocument(raw, desc.mediaType, `${desc.digest}`);
    let changed = false;
    const swap = (d: Descriptor): Descriptor => {
      const to = this.mapDescriptor(d);
      if (to.digest !== d.digest) changed = true;
      return to;
    };
    const json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    if (doc.kind === 'manifest') {
      json.layers = (json.layers as Descriptor[]).map((l) => swap(l));
    } else {
      json.manifests = (json.manifests as Descriptor[]).map((m) => swap(m));
    }
    if (!changed) return { desc, raw };
    const newRaw = Buffer.from(JSON.stringify(json));
    return { desc: { mediaType: desc.mediaType, digest: digestOf(newRaw), size: newRaw.length }, raw: newRaw };
  }

  private async cleanup(): Promise<void> {
    if (this.spoolDir) await rm(await this.spoolDir, { recursive: true, force: true });
    this.spoolDir = undefined;
  }
}

/** A pass-through stream that shows each chunk to `see` (hashing in the same pass). */
function tap(see: (chunk: Buffer) => void): Transform {
  return new Transform({ transform(chunk: Buffer, _enc, done) { see(chunk); done(null, chunk); } });
}
