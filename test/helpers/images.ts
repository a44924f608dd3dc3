/**
 * Test image generation. Rootfs tars are built from a seeded generator (deterministic bytes), and a
 * minimal OCI layout is written around them with plain node code (independent of ocitool's own
 * writer); the real skopeo then copies that layout to produce the gzip / zstd layouts and
 * registry images the tests consume.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { mustRun } from './index.js';

export interface FileSpec {
  name: string;
  /** Content bytes, or a seeded pseudo-random size. */
  content?: Buffer | string;
  size?: number;
  seed?: number;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  mode?: number;
}

/** Deterministic pseudo-random bytes (xorshift), cheap enough for hundreds of MiB. */
export function patternBytes(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  for (; i < size; i++) buf[i] = (x >>> (8 * (i & 3))) & 0xff;
  return buf;
}

/** Writes a tar of the given files with fixed owners and times. */
export async function writeRootfsTar(file: string, files: FileSpec[]): Promise<void> {
  const pack = tar.pack();
  const out = createWriteStream(file);
  const done = pipeline(pack, out);
  const mtime = new Date(1700000000 * 1000);
  for (const f of files) {
    const type = f.type ?? 'file';
    if (type === 'file') {
      const content = f.content !== undefined ? Buffer.from(f.content) : patternBytes(f.size ?? 0, f.seed ?? 1);
      await new Promise<void>((resolve, reject) => pack.entry({ name: f.name, size: content.length, mode: f.mode ?? 0o644, mtime, uid: 0, gid: 0 }, content, (err) => (err ? reject(err) : resolve())));
    } else {
      await new Promise<void>((resolve, reject) => pack.entry({ name: f.name, type, linkname: f.linkname, mode: f.mode ?? (type === 'directory' ? 0o755 : 0o777), mtime, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve())));
    }
  }
  pack.finalize();
  await done;
}

/** A rootfs of `count` files with sizes spread from tiny to large, seeded by `seed`. */
export function sampleRootfs(seed: number, count = 40, maxSize = 256 * 1024): FileSpec[] {
  const files: FileSpec[] = [{ name: 'etc/', type: 'directory' }, { name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }];
  files.push({ name: 'etc/os-release', content: `ID=ocitool-test\nSEED=${seed}\n` });
  for (let i = 0; i < count; i++) {
    const size = i % 5 === 0 ? 10 + i : Math.floor(((i * 7919 + seed * 104729) % 1000) / 1000 * maxSize) + 100;
    files.push({ name: `usr/bin/file-${i}`, size, seed: seed * 1000 + i, mode: 0o755 });
  }
  files.push({ name: 'usr/bin/sh', type: 'symlink', linkname: 'file-1' });
  return files;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface BuiltLayout {
  dir: string;
  manifestDigest: string;
}

/**
 * Writes an OCI layout whose layers are the given uncompressed tars, with `tag` as its ref name.
 * This is the input skopeo copies from; it uses no ocitool code.
 */
export async function writeOciLayout(dir: string, layerTars: string[], tag: string, platform = { os: 'linux', architecture: 'amd64' } as { os: string; architecture: string; variant?: string }): Promise<BuiltLayout> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (data: Buffer): Promise<string> => {
    const digest = sha256(data);
    await writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
    return digest;
  };
  const layers = [];
  const diffIds = [];
  for (const t of layerTars) {
    const data = await readFile(t);
    const digest = await put(data);
    diffIds.push(digest);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: data.length });
  }
  const config = Buffer.from(JSON.stringify({
    created: '2023-11-14T22:13:20Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ['/usr/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layerTars.map(() => ({ created: '2023-11-14T22:13:20Z', created_by: 'ocitool test' })),
  }));
  const configDigest = await put(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers,
  }));
  const manifestDigest = await put(manifest);
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag }, platform }],
  }));
  return { dir, manifestDigest };
}

/** `skopeo copy oci:src:tag oci:dst:tag` with the given layer compression (the real peer). */
export async function skopeoCopyLayout(src: string, dst: string, tag: string, compression: 'gzip' | 'zstd'): Promise<string> {
  await mustRun('skopeo', ['copy', '--quiet', '--dest-compress-format', compression, '--dest-compress', `oci:${src}:${tag}`, `oci:${dst}:${tag}`]);
  const raw = await mustRun('skopeo', ['inspect', '--raw', `oci:${dst}:${tag}`]);
  return sha256(Buffer.from(raw));
}
