/**
 * A registry repository as an ImageSink. The engine hands it blobs before the manifests that name
 * them and manifests before indexes; the sink asks (`HEAD`) before every upload, mounts from
 * another repository of the same registry when it can, uploads the rest (upload.ts), and pushes
 * manifests byte for byte with their own media type. Tags are written only at commit, after
 * everything they reach is in the registry: a failed push tags nothing. The root manifest is
 * held back until commit and pushed by its tag (children of an index by digest), so a push by
 * tag costs one manifest request, as skopeo's does.
 *
 * A registry cannot hold part of an index, so a partial index is rewritten (partialIndex
 * 'rewrite'), as for layouts: docs/push.md.
 */
import { Readable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import { isIndexType, isManifestType, MANIFEST_ACCEPT } from '../oci/media-types.js';
import { MAX_JSON_BYTES, type Descriptor } from '../oci/schemas.js';
import { verifyBuffer } from '../oci/verify.js';
import type { BlobInfo, ImageSink, SinkRoot } from '../copy/transport.js';
import { RegistryClient, type ClientOptions } from './client.js';
import { endpointsFor, type EndpointOptions } from './endpoints.js';
import { discard, readSmall } from './http.js';
import { mountBlob, uploadBlob, type UploadOptions } from './upload.js';

export interface RegistrySinkOptions extends Omit<ClientOptions, 'push' | 'pullFrom'>, Pick<EndpointOptions, 'plainHttp'> {
  /** A repository of the same registry that holds the blobs (a registry-to-registry copy): mount from it. */
  mountFrom?: string;
  /** Opens a blob again from its source, to resume an upload after a dropped connection. */
  reopen?: UploadOptions['reopen'];
  /** PATCH chunk size and the largest blob sent in one PUT (default upload.ts DEFAULT_CHUNK_SIZE). */
  chunkSize?: number;
}

/** What one push did, for messages, tests and the bench. */
export interface PushCounters {
  uploaded: number;
  mounted: number;
  /** Blobs the registry had already (HEAD said so). */
  present: number;
  resumes: number;
  manifests: number;
}

export class RegistrySink implements ImageSink {
  readonly partialIndex = 'rewrite' as const;
  readonly description: string;
  readonly client: RegistryClient;
  readonly counters: PushCounters = { uploaded: 0, mounted: 0, present: 0, resumes: 0, manifests: 0 };
  /** Blobs and manifests known to be in the repository. */
  private readonly held = new Set<string>();
  /** Sessions a mount opened instead of mounting (202), used by the blob's upload. */
  private readonly sessions = new Map<string, URL>();
  /** Manifest bytes written by this push, by digest. */
  private readonly manifests = new Map<string, { desc: Descriptor; raw: Buffer }>();
  /** The last manifest or index written, not yet pushed: the root, if nothing follows it. */
  private pending: string | undefined;

  constructor(readonly registry: string, readonly repository: string, private readonly options: RegistrySinkOptions = {}) {
    const endpoint = endpointsFor(registry, { plainHttp: options.plainHttp }).at(-1)!;
    const pullFrom = options.mountFrom ? [options.mountFrom] : [];
    this.client = new RegistryClient(endpoint, repository, { ...options, push: true, pullFrom });
    this.description = this.client.description;
  }

  async hasBlob(desc: Descriptor, _info: BlobInfo): Promise<boolean> {
    if (this.held.has(desc.digest)) return true;
    const manifest = isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
    // A manifest is put again rather than asked for: a PUT costs what a HEAD does, is idempotent,
    // and the root must be put by its tag anyway.
    if (manifest) return false;
    const what = `blob ${desc.digest}`;
    const result = await this.client.request(`blobs/${desc.digest}`, { method: 'HEAD', what });
    discard(result.response);
    const status = result.response.status;
    if (status === 200) {
      const length = result.response.headers.get('content-length');
      // A blob of another size under this digest is not ours: upload, and the registry decides.
      if (length === null || Number(length) === desc.size) {
        this.held.add(desc.digest);
        this.counters.present++;
        return true;
      }
      return false;
    }
    if (status !== 404) throw await this.client.failure(result, what);
    if (this.options.mountFrom && this.options.mountFrom !== this.repository) {
      const mounted = await mountBlob(this.client, desc, this.options.mountFrom);
      if (mounted === true) {
        this.held.add(desc.digest);
        this.counters.mounted++;
        return true;
      }
      this.sessions.set(desc.digest, mounted);
    }
    return false;
  }

  async writeBlob(desc: Descriptor, data: Readable, _info: BlobInfo): Promise<void> {
    const session = this.sessions.get(desc.digest);
    this.sessions.delete(desc.digest);
    const stats = await uploadBlob(this.client, desc, data, {
      ...(this.options.chunkSize ? { chunkSize: this.options.chunkSize } : {}),
      ...(this.options.reopen ? { reopen: this.options.reopen } : {}),
      ...(session ? { session } : {}),
    });
    this.counters.uploaded++;
    this.counters.resumes += stats.resumes;
    this.held.add(desc.digest);
  }

  async writeSmallBlob(desc: Descriptor, raw: Buffer): Promise<void> {
    if (!isManifestType(desc.mediaType) && !isIndexType(desc.mediaType)) {
      await this.writeBlob(desc, Readable.from([raw]), { kind: 'blob' });
      return;
    }
    // The previous manifest was a child (something follows it): it goes by digest, before its parent.
    await this.flushPending();
    this.manifests.set(desc.digest, { desc, raw });
    this.pending = desc.digest;
  }

  async commit(roots: SinkRoot[]): Promise<void> {
    const tagged = new Set<string>(roots.filter((r) => r.names.length > 0).map((r) => r.descriptor.digest));
    if (this.pending && !tagged.has(this.pending)) await this.flushPending();
    for (const root of roots) {
      const { desc, raw } = this.manifests.get(root.descriptor.digest) ?? { desc: root.descriptor, raw: await this.fetchManifest(root.descriptor) };
      for (const name of root.names) await this.putManifest(desc, raw, name);
      if (root.names.length === 0 && !this.held.has(desc.digest)) await this.putManifest(desc, raw, desc.digest);
    }
    this.pending = undefined;
  }

  /** Nothing to undo: untagged blobs and manifests are the registry's garbage to collect. */
  async abort(): Promise<void> {
    this.pending = undefined;
  }

  private async flushPending(): Promise<void> {
    if (!this.pending) return;
    const { desc, raw } = this.manifests.get(this.pending)!;
    this.pending = undefined;
    await this.putManifest(desc, raw, desc.digest);
  }

  /** PUT manifests/<reference> with the exact bytes and media type; the answered digest must match. */
  private async putManifest(desc: Descriptor, raw: Buffer, reference: string): Promise<void> {
    const what = reference === desc.digest ? `manifest ${desc.digest}` : `manifest ${desc.digest} as tag ${reference}`;
    const result = await this.client.request(`manifests/${reference}`, {
      method: 'PUT',
      what,
      direction: 'to',
      body: raw,
      headers: { 'Content-Type': desc.mediaType, 'Content-Length': String(raw.length) },
    });
    if (result.response.status !== 201 && result.response.status !== 200) throw await this.client.failure(result, what, 'to');
    discard(result.response);
    const answered = result.response.headers.get('docker-content-digest')?.trim();
    if (answered && answered !== desc.digest) {
      throw new OcitoolError('DIGEST_MISMATCH', `${what} to ${this.description}: registry answered digest ${answered}`);
    }
    this.held.add(desc.digest);
    this.counters.manifests++;
  }

  /** A root this push did not write (the registry had it): its bytes, to tag it. */
  private async fetchManifest(desc: Descriptor): Promise<Buffer> {
    const what = `manifest ${desc.digest}`;
    const result = await this.client.request(`manifests/${desc.digest}`, { what, headers: { Accept: [desc.mediaType, ...MANIFEST_ACCEPT].join(', ') } });
    if (result.response.status !== 200) throw await this.client.failure(result, what);
    const raw = await readSmall(result.response, MAX_JSON_BYTES, this.client.timeouts.idleMs);
    verifyBuffer(raw, desc, `${what} from ${this.description}`);
    return raw;
  }
}
