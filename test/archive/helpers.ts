/**
 * Helpers for the archive tests: images made by the real skopeo from generated rootfs tars,
 * hand-crafted (bad) tars, running the fixture script, and a graph walker that verifies every
 * blob of an ImageSource independently of the copy engine.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import tar from 'tar-stream';
import { mustRun, repoRoot } from '../helpers/index.js';
import { sampleRootfs, writeOciLayout, writeRootfsTar } from '../helpers/images.js';
import type { ImageSource } from '../../src/copy/transport.js';
import { parseImageDocument, parseJson, ImageConfigSchema, type Descriptor } from '../../src/oci/schemas.js';
import { VerifyingStream, verifyBuffer } from '../../src/oci/verify.js';
import { autoDecompress } from '../../src/compress/index.js';

/** A two-layer OCI layout (uncompressed layers) written without ocitool code; tag is its ref. */
export async function makeLayout(dir: string, seed: number, tag: string, opts: { repeatFirstLayer?: boolean; fileCount?: number; maxSize?: number } = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const l1 = path.join(dir, '..', `${path.basename(dir)}-l1.tar`);
  const l2 = path.join(dir, '..', `${path.basename(dir)}-l2.tar`);
  await writeRootfsTar(l1, sampleRootfs(seed, opts.fileCount ?? 20, opts.maxSize));
  await writeRootfsTar(l2, [{ name: `etc/layer-two-${seed}`, content: `seed ${seed}\n` }]);
  await writeOciLayout(dir, opts.repeatFirstLayer ? [l1, l2, l1] : [l1, l2], tag);
  return dir;
}

/** `skopeo copy oci:DIR:tag docker-archive:FILE:name` (the real docker-archive writer). */
export async function skopeoToDockerArchive(layout: string, tag: string, file: string, name: string): Promise<void> {
  await mustRun('skopeo', ['copy', '--quiet', `oci:${layout}:${tag}`, `docker-archive:${file}:${name}`]);
}

/** skopeo's own `oci:` copy of a transport reference: its config digest and diff_ids. */
export async function skopeoConfigFacts(ref: string): Promise<{ configDigest: string; diffIds: string[] }> {
  const raw = await mustRun('skopeo', ['inspect', '--raw', ref]);
  const manifest = JSON.parse(raw) as { config: { digest: string } };
  const config = JSON.parse(await mustRun('skopeo', ['inspect', '--config', '--raw', ref])) as { rootfs: { diff_ids: string[] } };
  return { configDigest: manifest.config.digest, diffIds: config.rootfs.diff_ids };
}

/** Runs fixtures/make-docker-archives.sh into `dir`. */
export async function makeFixtureArchives(dir: string): Promise<void> {
  await mustRun('bash', [path.join(repoRoot, 'fixtures', 'make-docker-archives.sh'), dir]);
}

export interface CraftEntry {
  name: string;
  content?: Buffer | string;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
}

/** Writes a tar of exactly these entries (for bad-input tests). */
export async function craftTar(file: string, entries: CraftEntry[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(file));
  for (const e of entries) {
    if ((e.type ?? 'file') === 'file') pack.entry({ name: e.name, mode: 0o644 }, Buffer.from(e.content ?? ''));
    else pack.entry({ name: e.name, type: e.type, linkname: e.linkname, mode: 0o777 });
  }
  pack.finalize();
  await done;
}

/** Copies every entry of the tars at `inputs` into `output`, applying `edit` to each (undefined drops it). */
export async function rewriteTar(inputs: string[], output: string, edit: (header: tar.Header, data: Buffer) => { header: tar.Header; data: Buffer } | undefined = (header, data) => ({ header, data })): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(output));
  const seen = new Set<string>();
  for (const input of inputs) {
    const extract = tar.extract();
    const reading = pipeline(createReadStream(input), extract);
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const edited = edit(entry.header, Buffer.concat(chunks));
      if (!edited || seen.has(edited.header.name)) continue;
      seen.add(edited.header.name);
      pack.entry({ ...edited.header, size: edited.data.length }, edited.data);
    }
    await reading;
  }
  pack.finalize();
  await done;
}

/** Merges docker archives as `docker save a b` would: files unioned, manifest.json entries concatenated. */
export async function mergeDockerArchives(inputs: string[], output: string): Promise<void> {
  const manifests: unknown[] = [];
  for (const input of inputs) {
    await rewriteTar([input], output + '.tmp', (header, data) => {
      if (header.name === 'manifest.json') manifests.push(...(JSON.parse(data.toString()) as unknown[]));
      return undefined;
    });
  }
  await rewriteTar(inputs, output, (header, data) => (header.name === 'manifest.json'
    ? { header, data: Buffer.from(JSON.stringify(manifests)) }
    : header.name === 'repositories' ? undefined : { header, data }));
}

/**
 * A 512-byte ustar header of a PAX extended header that claims `size` bytes, followed by a few
 * bytes: the shape of an attack that makes a reader buffer hundreds of MiB.
 */
export async function writeHugePaxTar(file: string, size: number): Promise<void> {
  const h = Buffer.alloc(512);
  h.write('PaxHeaders/evil', 0, 'ascii');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write('x', 156, 'ascii');
  h.write('ustar\x0000', 257, 'binary');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  await writeFile(file, Buffer.concat([h, Buffer.alloc(4096, 0x41)]));
}

export interface WalkedImage {
  manifestDigests: string[];
  configDigests: string[];
  diffIds: string[][];
  layerDigests: string[];
}

/** Reads the whole graph under `root` from `source`, verifying every blob's size and digest and every layer's diff_id. */
export async function walkSource(source: ImageSource, root: Descriptor): Promise<WalkedImage> {
  const out: WalkedImage = { manifestDigests: [], configDigests: [], diffIds: [], layerDigests: [] };
  const visit = async (desc: Descriptor): Promise<void> => {
    const raw = await source.readBlob(desc);
    verifyBuffer(raw, desc, `blob ${desc.digest}`);
    const doc = parseImageDocument(raw, desc.mediaType, desc.digest);
    if (doc.kind === 'index') {
      for (const child of doc.index.manifests) await visit(child);
      return;
    }
    out.manifestDigests.push(desc.digest);
    const configRaw = await source.readBlob(doc.manifest.config);
    verifyBuffer(configRaw, doc.manifest.config, 'config');
    out.configDigests.push(doc.manifest.config.digest);
    const config = parseJson(configRaw, ImageConfigSchema, 'config');
    out.diffIds.push(config.rootfs.diff_ids);
    for (const [i, layer] of doc.manifest.layers.entries()) {
      const verifying = new VerifyingStream(layer, `layer ${layer.digest}`);
      const opened = await source.openBlob(layer);
      const diffHash = createHash('sha256');
      const { stream } = await autoDecompress(opened.pipe(verifying), `layer ${layer.digest}`);
      await pipeline(stream, new Writable({ write(c: Buffer, _e, cb) { diffHash.update(c); cb(); } }));
      const diffId = `sha256:${diffHash.digest('hex')}`;
      if (diffId !== config.rootfs.diff_ids[i]) throw new Error(`layer ${i} diff_id ${diffId} != config ${config.rootfs.diff_ids[i]}`);
      out.layerDigests.push(layer.digest);
    }
  };
  await visit(root);
  return out;
}
