// Layers for the checkout and composefs tests: whiteouts, opaque folders, hardlinks within a
// layer and to an earlier one, setuid/setgid, owners, long UTF-8 names, an empty folder; and the
// listing both tests compare with umoci's unpack.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { patternBytes } from '../helpers/images.js';

export interface Spec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

export async function writeLayer(file: string, entries: Spec[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(file));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: new Date((e.mtime ?? 1700000000) * 1000), ...(e.linkname ? { linkname: e.linkname } : {}) };
    const data = type === 'file' ? Buffer.from(e.data ?? '') : undefined;
    await new Promise<void>((resolve, reject) => (data ? pack.entry({ ...header, size: data.length }, data, (err) => (err ? reject(err) : resolve())) : pack.entry(header, (err) => (err ? reject(err) : resolve()))));
  }
  pack.finalize();
  await done;
}

const longName = `usr/share/${'ünïcødé-'.repeat(14)}name.txt`;

export const layer1: Spec[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
  { name: 'etc/group', data: 'root:x:0:\n' },
  { name: 'usr/', type: 'directory' },
  { name: 'usr/bin/', type: 'directory' },
  { name: 'usr/bin/tool', data: patternBytes(300 * 1024, 5), mode: 0o4755 },
  { name: 'usr/bin/tool-link', type: 'link', linkname: 'usr/bin/tool' },
  { name: 'usr/bin/sgid', data: patternBytes(5000, 6), mode: 0o2711, gid: 50 },
  { name: 'usr/share/', type: 'directory' },
  { name: longName, data: 'long name\n' },
  { name: 'var/', type: 'directory' },
  { name: 'var/cache/', type: 'directory' },
  { name: 'var/cache/a', data: patternBytes(70, 7) },
  { name: 'var/cache/b', data: 'b' },
  { name: 'opt/', type: 'directory' },
  { name: 'opt/old/', type: 'directory' },
  { name: 'opt/old/f', data: 'f' },
  { name: 'empty/', type: 'directory', mode: 0o700 },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'home/', type: 'directory' },
  { name: 'home/user/', type: 'directory', uid: 1000, gid: 1000, mtime: 1600000000 },
  { name: 'home/user/notes', data: patternBytes(65, 9), uid: 1000, gid: 1000, mode: 0o600, mtime: 1600000001 },
  { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
];
export const layer2: Spec[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/.wh.group' },
  { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/bash\n' },
  { name: 'var/', type: 'directory' },
  { name: 'var/cache/', type: 'directory' },
  { name: 'var/cache/.wh..wh..opq' },
  { name: 'var/cache/c', data: patternBytes(2 * 1024 * 1024, 11) },
  { name: 'usr/', type: 'directory' },
  { name: 'usr/bin/', type: 'directory' },
  { name: 'usr/bin/tool2', type: 'link', linkname: 'usr/bin/tool' },
  { name: 'opt/', type: 'directory' },
  { name: 'opt/old', type: 'symlink', linkname: '../etc' },
];

/** One line per path: what umoci and ocitool must agree on. Hardlinks by group of the first path. */
export async function listing(root: string): Promise<string[]> {
  const out: string[] = [];
  const groups = new Map<string, string>();
  for (const rel of await walk(root)) {
    const p = path.join(root, rel);
    const st = await lstat(p);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
    let extra = '';
    if (type === 'file') {
      extra = createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16);
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (!groups.has(key)) groups.set(key, rel);
        extra += ` link-group=${groups.get(key)}`;
      }
    }
    if (type === 'symlink') extra = `-> ${await readlink(p)}`;
    const mtime = type === 'dir' ? '' : ` mtime=${Math.floor(st.mtimeMs / 1000)}`;
    out.push(`${rel} ${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${type === 'file' ? st.size : ''}${mtime} ${extra}`);
  }
  return out;
}

async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(root, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    out.push(r);
    if ((await lstat(path.join(root, r))).isDirectory()) out.push(...(await walk(root, r)));
  }
  return out;
}

