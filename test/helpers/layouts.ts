/** Layouts the store tests import: generated rootfs tars, wrapped in a layout, copied by the real skopeo. */
import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { mustRun } from './index.js';
import { sampleRootfs, skopeoCopyLayout, writeOciLayout, writeRootfsTar, type FileSpec } from './images.js';

export interface TestImage {
  /** Uncompressed layout written by the test helper (layers = the tars). */
  plain: string;
  gzip: string;
  zstd: string;
  tag: string;
  layerTars: string[];
  gzipDigest: string;
  zstdDigest: string;
}

/** Image A: two layers. Image B: the same first layer files with a few changed, sharing most files. */
export async function buildImage(dir: string, name: string, layers: FileSpec[][], tag = 'v1'): Promise<TestImage> {
  await mkdir(dir, { recursive: true });
  const layerTars: string[] = [];
  for (let i = 0; i < layers.length; i++) {
    const file = path.join(dir, `${name}-layer${i}.tar`);
    await writeRootfsTar(file, layers[i]!);
    layerTars.push(file);
  }
  const plain = path.join(dir, `${name}-plain`);
  await writeOciLayout(plain, layerTars, tag);
  const gzip = path.join(dir, `${name}-gzip`);
  const zstd = path.join(dir, `${name}-zstd`);
  const gzipDigest = await skopeoCopyLayout(plain, gzip, tag, 'gzip');
  const zstdDigest = await skopeoCopyLayout(plain, zstd, tag, 'zstd');
  return { plain, gzip, zstd, tag, layerTars, gzipDigest, zstdDigest };
}

export function imageAFiles(): FileSpec[][] {
  return [sampleRootfs(1, 40), sampleRootfs(2, 8)];
}

/** Like A's first layer but three files changed: the rest must be shared in the store. */
export function imageBFiles(): FileSpec[][] {
  const files = sampleRootfs(1, 40).map((f) => (f.name === 'usr/bin/file-3' || f.name === 'usr/bin/file-7' || f.name === 'usr/bin/file-11' ? { ...f, seed: (f.seed ?? 0) + 99991 } : f));
  return [files];
}

/** A copy of a layout folder to damage. */
export async function copyLayout(src: string, dst: string): Promise<string> {
  await cp(src, dst, { recursive: true });
  return dst;
}

export async function sha256File(file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return `sha256:${createHash('sha256').update(await readFile(file)).digest('hex')}`;
}

/** Raw manifest digest as skopeo reports it for oci:DIR:tag. */
export async function skopeoManifestDigest(dir: string, tag: string): Promise<string> {
  const raw = await mustRun('skopeo', ['inspect', '--raw', `oci:${dir}:${tag}`]);
  return `sha256:${createHash('sha256').update(Buffer.from(raw)).digest('hex')}`;
}
