/**
 * Builds an ImageSource with its root, or an ImageSink with the names to give the root, from a
 * transport name (src/copy/transport-names.ts), out of the existing transport classes: the
 * registry (resolve, RegistrySink), the store (its source and StoreSink), OCI layout folders and
 * tars (LayoutSource, LayoutFolderSink, LayoutTarSink) and docker-save archives (ArchiveSource;
 * written as an OCI layout tar with a docker manifest.json, which docker load reads).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OcitoolError } from '../errors.js';
import type { CopyRoot } from '../copy/engine.js';
import type { ImageSink, ImageSource } from '../copy/transport.js';
import { describeTransportName, type TransportName } from '../copy/transport-names.js';
import { openArchiveSource } from '../archive/docker-archive.js';
import { LayoutTarSink } from '../archive/layout-tar-sink.js';
import { LayoutFolderSink } from '../layout/folder-sink.js';
import { openLayout } from '../layout/source.js';
import { ANNOTATION_REF_NAME } from '../oci/annotations.js';
import { presenceOf } from '../oci/graph.js';
import { normalizeTagName, parseReference } from '../oci/reference.js';
import { resolve, type RegistrySourceOptions } from '../registry/index.js';
import { RegistrySink } from '../registry/sink.js';
import { StoreSink } from '../store/sink.js';
import type { Store } from '../store/store.js';

export interface OpenedSource {
  source: ImageSource;
  root: CopyRoot;
  /** The registry and repository, when the source is one (a destination on the same registry mounts). */
  registry?: { registry: string; repository: string };
  close(): Promise<void>;
}

export interface OpenedSink {
  sink: ImageSink;
  /** Names for the root in the sink (tags, layout refs). */
  names: string[];
  /** Where the image went, for the result line. */
  destination?: string;
  /** A destination named by digest (docker://name@sha256:…): what was pushed must have it. */
  expectDigest?: string;
  close(): Promise<void>;
}

export interface TransportContext {
  openStore(): Promise<Store>;
  /** Options for a registry source. */
  registry: RegistrySourceOptions;
  /** Options for a registry destination (its own credentials); `registry` when absent. */
  sinkRegistry?: RegistrySourceOptions;
}

const nothing = async (): Promise<void> => {};

async function scratch(): Promise<{ dir: string; close: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ocitool-copy-'));
  return { dir, close: () => rm(dir, { recursive: true, force: true }) };
}

export async function openSourceByName(name: TransportName, ctx: TransportContext): Promise<OpenedSource> {
  const label = describeTransportName(name);
  switch (name.transport) {
    case 'docker': {
      const ref = parseReference(name.reference);
      const resolved = await resolve(ref, ctx.registry);
      return { source: resolved.source, root: { descriptor: resolved.descriptor, names: [], label }, registry: { registry: ref.registry, repository: ref.repository }, close: nothing };
    }
    case 'store': {
      const store = await ctx.openStore();
      const tag = normalizeTagName(name.name);
      const record = await store.readTag(tag);
      if (!record) throw new OcitoolError('NOT_FOUND', `image ${tag} is not in the store`);
      const present = presenceOf(record.presentChildren);
      return { source: store.asSource(), root: { descriptor: record.descriptor, names: [], label: `image ${tag}`, ...(present === true ? {} : { present }) }, close: nothing };
    }
    case 'oci':
    case 'oci-archive': {
      const layout = await openLayout(path.resolve(name.path));
      try {
        const { index } = await layout.readIndex();
        const entries = name.tag ? index.manifests.filter((m) => m.annotations?.[ANNOTATION_REF_NAME] === name.tag) : index.manifests;
        if (entries.length !== 1) {
          const why = name.tag ? (entries.length ? `${entries.length} images are named ${name.tag}` : `no image is named ${name.tag}`) : `it holds ${entries.length} images: name one with ${name.transport}:${name.path}:TAG`;
          throw new OcitoolError(entries.length ? 'USAGE' : 'NOT_FOUND', `${label}: ${why}`);
        }
        const { annotations: _a, ...descriptor } = entries[0]!;
        return { source: layout, root: { descriptor, names: [], label }, close: () => layout.close() };
      } catch (err) {
        await layout.close();
        throw err;
      }
    }
    case 'docker-archive': {
      const spool = await scratch();
      try {
        const archive = await openArchiveSource({ file: path.resolve(name.path) }, spool.dir);
        const wanted = name.name ? normalizeTagName(name.name) : undefined;
        const images = wanted ? archive.images.filter((i) => i.imageNames.map(normalizeTagName).includes(wanted)) : archive.images;
        if (images.length !== 1) {
          const why = wanted ? (images.length ? `${images.length} images are named ${wanted}` : `no image is named ${wanted}`) : `it holds ${images.length} images: name one with docker-archive:${name.path}:NAME`;
          throw new OcitoolError(images.length ? 'USAGE' : 'NOT_FOUND', `${label}: ${why}`);
        }
        return { source: archive, root: { descriptor: images[0]!.descriptor, names: [], label }, close: async () => {
          await archive.close();
          await spool.close();
        } };
      } catch (err) {
        await spool.close();
        throw err;
      }
    }
  }
}

/** `from`: the opened source, so a registry sink can mount from it and re-open blobs to resume. */
export async function openSinkByName(name: TransportName, ctx: TransportContext, from: OpenedSource): Promise<OpenedSink> {
  switch (name.transport) {
    case 'docker': {
      const ref = parseReference(name.reference);
      const sameRegistry = from.registry && from.registry.registry === ref.registry ? from.registry.repository : undefined;
      const { mirrors: _m, ...options } = ctx.sinkRegistry ?? ctx.registry;
      const sink = new RegistrySink(ref.registry, ref.repository, {
        ...options,
        reopen: (desc) => from.source.openBlob(desc),
        ...(sameRegistry ? { mountFrom: sameRegistry } : {}),
      });
      return {
        sink,
        names: ref.tag && !ref.digest ? [ref.tag] : ref.digest ? [] : ['latest'],
        destination: `${ref.registry}/${ref.repository}`,
        ...(ref.digest ? { expectDigest: ref.digest } : {}),
        close: nothing,
      };
    }
    case 'store': {
      const store = await ctx.openStore();
      return { sink: await StoreSink.create(store, { keepVerified: true }), names: [normalizeTagName(name.name)], close: nothing };
    }
    case 'oci':
      return { sink: await LayoutFolderSink.create(path.resolve(name.path)), names: name.tag ? [name.tag] : [], destination: name.path, close: nothing };
    case 'oci-archive':
    case 'docker-archive': {
      const spool = await scratch();
      const docker = name.transport === 'docker-archive';
      const ref = docker ? (name.name ? normalizeTagName(name.name) : 'latest') : name.tag;
      const sink = new LayoutTarSink({ file: path.resolve(name.path) }, { spoolParent: spool.dir, dockerManifest: docker });
      if (docker && name.name) sink.setImageName(ref!, normalizeTagName(name.name));
      return { sink, names: ref ? [ref] : [], destination: name.path, close: spool.close };
    }
  }
}
