/**
 * Test images for the registry tests, generated here and pushed with the real skopeo: a
 * single-layer gzip image, a multi-layer image with whiteouts, a zstd image and a two-platform
 * index (amd64 and arm64).
 */
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { RegistrySource } from '../../src/registry/source.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { VerifyingStream } from '../../src/oci/verify.js';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mustRun, removeDir, tempDir } from '../helpers/index.js';
import { sampleRootfs, writeOciLayout, writeRootfsTar, type FileSpec } from '../helpers/images.js';

export interface PushOptions {
  compression?: 'gzip' | 'zstd';
  creds?: string;
}

async function push(layout: string, tag: string, target: string, options: PushOptions = {}, all = false): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  if (all) args.push('--all');
  if (options.compression === 'zstd') args.push('--dest-compress-format', 'zstd', '--dest-compress');
  if (options.creds) args.push('--dest-creds', options.creds);
  await mustRun('skopeo', [...args, `oci:${layout}:${tag}`, `docker://${target}`]);
}

async function buildLayout(work: string, name: string, layers: FileSpec[][], platform?: { os: string; architecture: string; variant?: string }): Promise<string> {
  const dir = path.join(work, name);
  const tars: string[] = [];
  for (let i = 0; i < layers.length; i++) {
    const t = path.join(work, `${name}-layer${i}.tar`);
    await writeRootfsTar(t, layers[i]!);
    tars.push(t);
  }
  await writeOciLayout(dir, tars, 'img', platform);
  return dir;
}

/** Pushes a one-layer image to `target` (host/repo:tag). */
export async function pushSingleLayer(target: string, seed = 1, options: PushOptions = {}): Promise<void> {
  const work = await tempDir('ocitool-fixture-');
  try {
    await push(await buildLayout(work, 'single', [sampleRootfs(seed, 20)]), 'img', target, options);
  } finally {
    await removeDir(work);
  }
}

/** Pushes a three-layer image whose upper layers delete files with whiteouts. */
export async function pushMultiLayer(target: string, seed = 2, options: PushOptions = {}): Promise<void> {
  const work = await tempDir('ocitool-fixture-');
  try {
    const base = sampleRootfs(seed, 30);
    const second: FileSpec[] = [
      { name: 'usr/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/bin/.wh.file-3', content: '' },
      { name: 'usr/bin/new-file', size: 300_000, seed: seed * 7 },
    ];
    const third: FileSpec[] = [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh..wh..opq', content: '' },
      { name: 'etc/hostname', content: 'ocitool\n' },
    ];
    await push(await buildLayout(work, 'multi', [base, second, third]), 'img', target, options);
  } finally {
    await removeDir(work);
  }
}

/** Pushes a layout with large random layers (compressed size roughly `mib` MiB) for the bench. */
export async function pushLarge(target: string, mib: number, layers = 4): Promise<void> {
  const work = await tempDir('ocitool-fixture-');
  try {
    const per = Math.ceil((mib * 1024 * 1024) / layers);
    const specs: FileSpec[][] = [];
    for (let l = 0; l < layers; l++) {
      const files: FileSpec[] = [{ name: 'data/', type: 'directory' }];
      for (let f = 0; f < 8; f++) files.push({ name: `data/l${l}-f${f}`, size: Math.ceil(per / 8), seed: 9000 + l * 100 + f });
      specs.push(files);
    }
    await push(await buildLayout(work, 'large', specs), 'img', target);
  } finally {
    await removeDir(work);
  }
}

/**
 * Pushes an image index with an amd64 and an arm64 image: both layouts are merged into one whose
 * index.json names an index blob, then `skopeo copy --all` pushes it.
 */
export async function pushTwoPlatformIndex(target: string, seed = 3): Promise<void> {
  const work = await tempDir('ocitool-fixture-');
  try {
    const platforms = [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }];
    const merged = path.join(work, 'merged');
    await mkdir(path.join(merged, 'blobs', 'sha256'), { recursive: true });
    const manifests = [];
    for (const [i, platform] of platforms.entries()) {
      const dir = await buildLayout(work, `p${i}`, [sampleRootfs(seed * 10 + i, 10)], platform);
      for (const blob of await readdir(path.join(dir, 'blobs', 'sha256'))) {
        await copyFile(path.join(dir, 'blobs', 'sha256', blob), path.join(merged, 'blobs', 'sha256', blob));
      }
      const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
      const { mediaType, digest, size } = index.manifests[0];
      manifests.push({ mediaType, digest, size, platform });
    }
    const indexBlob = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    const digest = `sha256:${createHash('sha256').update(indexBlob).digest('hex')}`;
    await writeFile(path.join(merged, 'blobs', 'sha256', digest.slice(7)), indexBlob);
    await writeFile(path.join(merged, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(path.join(merged, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: indexBlob.length, annotations: { 'org.opencontainers.image.ref.name': 'img' } }],
    }));
    await push(merged, 'img', target, {}, true);
  } finally {
    await removeDir(work);
  }
}

/** Streams a blob from a registry source through the verifier; returns how many bytes passed. */
export async function streamVerified(source: RegistrySource, desc: Descriptor): Promise<number> {
  let total = 0;
  await pipeline(await source.openBlob(desc), new VerifyingStream(desc, `blob ${desc.digest}`), new Writable({
    write(chunk: Buffer, _e, done) {
      total += chunk.length;
      done();
    },
  }));
  return total;
}

/** Digests of the nested index fixture, by role. */
export interface NestedIndex {
  outer: string;
  inner: string;
  amd64: string;
  arm64: string;
  ppc64le: string;
}

/**
 * Pushes a nested index: an outer index naming an inner index (linux/amd64 and linux/arm64/v8)
 * and a linux/ppc64le manifest. The images are pushed by digest with skopeo; the two indexes, which
 * skopeo does not push nested, are PUT to the real registry as the distribution spec says.
 */
export async function pushNestedIndex(registryHost: string, repo: string, tag: string, seed = 5): Promise<NestedIndex> {
  const work = await tempDir('ocitool-fixture-');
  try {
    const platforms = [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'ppc64le' }];
    const manifests = [];
    for (const [i, platform] of platforms.entries()) {
      const dir = await buildLayout(work, `n${i}`, [sampleRootfs(seed * 10 + i, 8)], platform);
      const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
      const { mediaType, digest, size } = index.manifests[0];
      await push(dir, 'img', `${registryHost}/${repo}@${digest}`);
      manifests.push({ mediaType, digest, size, platform });
    }
    const put = async (body: Buffer, reference: string): Promise<void> => {
      const res = await fetch(`http://${registryHost}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(body), headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } });
      if (res.status !== 201) throw new Error(`PUT ${repo}:${reference}: ${res.status} ${await res.text()}`);
    };
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: manifests.slice(0, 2) }));
    await put(inner, sha(inner));
    const outer = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha(inner), size: inner.length }, manifests[2]],
    }));
    await put(outer, tag);
    return { outer: sha(outer), inner: sha(inner), amd64: manifests[0]!.digest, arm64: manifests[1]!.digest, ppc64le: manifests[2]!.digest };
  } finally {
    await removeDir(work);
  }
}
