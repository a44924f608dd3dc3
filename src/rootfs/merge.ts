/**
 * Merges an image's layers into one root filesystem tree, in memory, as the OCI image spec says
 * (image-spec layer.md): later entries replace earlier ones, `.wh.NAME` removes NAME from lower
 * layers, `.wh..wh..opq` hides everything lower layers put in its folder, hardlinks share one
 * inode. `checkout` writes the tree to disk and `composefs` writes it as an EROFS image: both
 * take it from here, so the two can never disagree on what an image contains.
 *
 * Names are byte strings: each character is one byte (latin1), exactly as the tar held them, so
 * a name that is not valid UTF-8 survives; turn one into a file name with `Buffer.from(name,
 * 'latin1')`.
 *
 * Nothing here touches the disk. Paths are resolved inside the tree only: `..` never climbs above
 * the root, an absolute name or link target is taken relative to the root, and a symlink met as
 * a *parent* component is followed inside the tree (as umoci and containerd resolve them), at
 * most MAX_LINK_HOPS times. The last component is never followed: an entry replaces a symlink,
 * it is not written through it.
 */
import { OcitoolError } from '../errors.js';

/** Linux's own limit on symlinks followed while resolving one path. */
export const MAX_LINK_HOPS = 40;
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** Where a regular file's bytes are: inline (small files, kept in the split stream) or an object. */
export type Content = { kind: 'inline'; data: Buffer } | { kind: 'object'; id: string };

/** What a tar entry and an inode both carry about a file. */
interface FileMetadata {
  mode: number;
  uid: number;
  gid: number;
  /** Seconds and nanoseconds since the epoch. */
  mtime: { sec: number; nsec: number };
  size: number;
  /** Symlink target (kept byte for byte); for a tar hardlink entry, the path it names. */
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  content?: Content;
}

/** One tar entry of a layer, already decoded (PAX records applied). */
export interface LayerEntry extends FileMetadata {
  /** As in the tar: may start with `./` or `/`, may hold `..`; resolved here. */
  name: string;
  type: EntryType;
  /** Extended attributes from PAX `SCHILY.xattr.*` records. */
  xattrs?: Map<string, Buffer>;
}

/** What a path holds; hardlinked paths share one Inode object. */
export interface Inode extends FileMetadata {
  type: Exclude<EntryType, 'hardlink'>;
  xattrs: Map<string, Buffer>;
  /** Paths in the final tree that name this inode (filled in by `finish`). */
  nlink: number;
}

export interface TreeNode {
  inode: Inode;
  /** For directories: children by name. */
  children?: Map<string, TreeNode>;
  /** Index of the layer that last wrote this path (whiteouts only remove lower layers' paths). */
  layer: number;
}

/** The merged tree; `root` is the `/` directory. */
export interface MergedTree {
  root: TreeNode;
}

function implicitDir(layer: number, mtime = { sec: 0, nsec: 0 }): TreeNode {
  return { inode: { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime, size: 0, xattrs: new Map(), nlink: 0 }, children: new Map(), layer };
}

/** The components of `name` inside the root: `.` dropped, `..` never above the root. */
export function splitPath(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

export class TreeMerger {
  readonly tree: MergedTree = { root: implicitDir(-1) };
  private layer = -1;

  /** Applies one layer. Whiteouts apply to lower layers only, so they are applied first. */
  addLayer(entries: LayerEntry[], what: string): void {
    this.layer++;
    const additions: LayerEntry[] = [];
    for (const entry of entries) {
      const parts = splitPath(entry.name);
      const base = parts[parts.length - 1];
      if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) {
        additions.push(entry);
        continue;
      }
      const dir = this.resolveDir(parts.slice(0, -1), what, entry.name, false);
      if (!dir?.children) continue; // the folder is not there: nothing to hide
      if (base === OPAQUE_WHITEOUT) {
        for (const [name, child] of dir.children) if (child.layer < this.layer) dir.children.delete(name);
      } else {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (hidden === '' || hidden === '.' || hidden === '..') throw new OcitoolError('TAR_INVALID', `${what}: whiteout "${entry.name}" names no file`);
        const child = dir.children.get(hidden);
        if (child && child.layer < this.layer) dir.children.delete(hidden);
      }
    }
    for (const entry of additions) this.add(entry, what);
  }

  private add(entry: LayerEntry, what: string): void {
    const parts = splitPath(entry.name);
    if (parts.length === 0) {
      // The root itself (`./`): only its metadata can change.
      if (entry.type !== 'directory') throw new OcitoolError('TAR_INVALID', `${what}: entry "${entry.name}" would replace the root folder with a ${entry.type}`);
      this.tree.root.inode = { ...this.inodeOf(entry), nlink: 0 };
      this.tree.root.layer = this.layer;
      return;
    }
    const name = parts[parts.length - 1]!;
    const parent = this.resolveDir(parts.slice(0, -1), what, entry.name, true)!;
    const existing = parent.children!.get(name);
    if (entry.type === 'hardlink') {
      const target = this.lookup(splitPath(entry.linkname ?? ''), what, entry.name);
      if (!target) throw new OcitoolError('TAR_INVALID', `${what}: hardlink "${entry.name}" names "${entry.linkname}", which is not in the image`);
      if (target.inode.type === 'directory') throw new OcitoolError('TAR_INVALID', `${what}: hardlink "${entry.name}" names folder "${entry.linkname}"`);
      if (target === existing) return;
      parent.children!.set(name, { inode: target.inode, layer: this.layer });
      return;
    }
    if (entry.type === 'directory' && existing?.children) {
      // A folder declared again keeps its content and takes the new metadata.
      existing.inode = { ...this.inodeOf(entry), nlink: 0 };
      existing.layer = this.layer;
      return;
    }
    const node: TreeNode = { inode: { ...this.inodeOf(entry), nlink: 0 }, layer: this.layer };
    if (entry.type === 'directory') node.children = new Map();
    parent.children!.set(name, node);
  }

  private inodeOf(entry: LayerEntry): Omit<Inode, 'nlink'> {
    return {
      type: entry.type as Inode['type'],
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      size: entry.type === 'file' ? entry.size : 0,
      ...(entry.linkname !== undefined && entry.type === 'symlink' ? { linkname: entry.linkname } : {}),
      ...(entry.devMajor !== undefined ? { devMajor: entry.devMajor, devMinor: entry.devMinor ?? 0 } : {}),
      xattrs: entry.xattrs ?? new Map(),
      ...(entry.content ? { content: entry.content } : {}),
    };
  }

  /**
   * The folder at `parts`, following symlinks inside the tree. With `create`, missing folders
   * are made (as tar extraction does) and a non-folder in the way is an error; without it,
   * undefined when absent.
   */
  private resolveDir(parts: string[], what: string, entryName: string, create: boolean, hops = { n: 0 }): TreeNode | undefined {
    return this.resolveDirAt(parts, what, entryName, create, hops)?.node;
  }

  /** As resolveDir, also giving the folder's real path (symlinks replaced by their targets). */
  private resolveDirAt(parts: string[], what: string, entryName: string, create: boolean, hops: { n: number }): { node: TreeNode; path: string[] } | undefined {
    let dir = this.tree.root;
    let real: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      let child = dir.children!.get(part);
      if (!child) {
        if (!create) return undefined;
        child = implicitDir(this.layer);
        dir.children!.set(part, child);
      }
      let childPath = [...real, part];
      if (child.inode.type === 'symlink') {
        if (++hops.n > MAX_LINK_HOPS) throw new OcitoolError('PATH_UNSAFE', `${what}: too many symlinks resolving "${entryName}"`);
        const target = child.inode.linkname ?? '';
        // Relative targets start from the symlink's folder; absolute ones from the root.
        const resolved = this.resolveDirAt(splitPath(target.startsWith('/') ? target : [...real, target].join('/')), what, entryName, create, hops);
        if (!resolved) return undefined;
        child = resolved.node;
        childPath = resolved.path;
      }
      if (!child.children) {
        if (!create) return undefined;
        throw new OcitoolError('PATH_UNSAFE', `${what}: "${entryName}" needs "${parts.slice(0, i + 1).join('/')}" to be a folder, but it is a ${child.inode.type}`);
      }
      dir = child;
      real = childPath;
    }
    return { node: dir, path: real };
  }

  /** The node at `parts` (last component not followed), or undefined. */
  private lookup(parts: string[], what: string, entryName: string): TreeNode | undefined {
    if (parts.length === 0) return this.tree.root;
    const dir = this.resolveDir(parts.slice(0, -1), what, entryName, false);
    return dir?.children?.get(parts[parts.length - 1]!);
  }

  /** Counts links and returns the tree. */
  finish(): MergedTree {
    const count = (node: TreeNode): void => {
      node.inode.nlink = 0;
      if (node.children) for (const child of node.children.values()) count(child);
    };
    count(this.tree.root);
    const add = (node: TreeNode): void => {
      node.inode.nlink++;
      if (node.children) for (const child of node.children.values()) add(child);
    };
    add(this.tree.root);
    return this.tree;
  }
}

/** Visits every path of the tree, parents before children, names sorted bytewise. */
export function* walkTree(tree: MergedTree): Generator<{ path: string; node: TreeNode }> {
  const stack: Array<{ path: string; node: TreeNode }> = [{ path: '', node: tree.root }];
  while (stack.length) {
    const item = stack.pop()!;
    yield item;
    if (item.node.children) {
      const names = [...item.node.children.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
      for (const name of names) stack.push({ path: item.path ? `${item.path}/${name}` : name, node: item.node.children.get(name)! });
    }
  }
}
