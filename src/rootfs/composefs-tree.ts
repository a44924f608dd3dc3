/**
 * A merged image tree (merge.ts) as a composefs tree (src/composefs), the way composefs-rs makes
 * one from an OCI image (its doc/oci.md): mtimes in whole seconds, hardlinks as one shared inode,
 * the root folder's metadata copied from /usr (layer tars rarely carry `/`, and runtimes ignore it
 * when they do), files of 64 bytes or less inline and larger ones pointing at their store object
 * (`ab/cdef…`, with its fs-verity sha256 as the metacopy digest).
 */
import { addChild, makeHardlink, newNode, setXattr, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, type CfsNode } from '../composefs/tree.js';
import type { Inode, MergedTree, TreeNode } from './merge.js';

/** Files up to this size are inline in the image (composefs-rs INLINE_CONTENT_MAX_V0). */
export const COMPOSEFS_INLINE_MAX = 64;

const TYPE_BITS: Record<Inode['type'], number> = { file: S_IFREG, directory: S_IFDIR, symlink: S_IFLNK, char: S_IFCHR, block: S_IFBLK, fifo: S_IFIFO };

/** Linux's dev_t encoding (glibc makedev). */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}

function fill(node: CfsNode, inode: Inode): void {
  node.mode = TYPE_BITS[inode.type] | (inode.mode & 0o7777);
  node.uid = inode.uid;
  node.gid = inode.gid;
  node.mtimeSec = BigInt(inode.mtime.sec);
  node.mtimeNsec = 0; // whole seconds, as composefs-rs
  node.nlink = inode.type === 'directory' ? 2 : inode.nlink;
  if (inode.type === 'symlink') {
    node.payload = inode.linkname ?? '';
    node.size = BigInt(node.payload.length);
  } else if (inode.type === 'file') {
    node.size = BigInt(inode.size);
    const content = inode.content;
    if (content?.kind === 'object' && inode.size > COMPOSEFS_INLINE_MAX) {
      node.payload = `${content.id.slice(0, 2)}/${content.id.slice(2)}`;
      node.digest = Buffer.from(content.id, 'hex');
    } else if (content?.kind === 'inline' && content.data.length > 0) {
      node.content = content.data;
    }
  } else if (inode.type === 'char' || inode.type === 'block') {
    node.rdev = makedev(inode.devMajor ?? 0, inode.devMinor ?? 0);
  }
  for (const [key, value] of inode.xattrs) setXattr(node, key, value);
}

export function toComposefsTree(tree: MergedTree): CfsNode {
  const root = newNode(S_IFDIR);
  const usr = tree.root.children?.get('usr');
  fill(root, usr?.inode.type === 'directory' ? usr.inode : tree.root.inode);
  const first = new Map<Inode, CfsNode>();
  const visit = (dirNode: TreeNode, dir: CfsNode): void => {
    const names = [...dirNode.children!.keys()].sort();
    for (const name of names) {
      const child = dirNode.children!.get(name)!;
      const target = first.get(child.inode);
      const node = newNode(TYPE_BITS[child.inode.type] | (child.inode.mode & 0o7777));
      addChild(dir, node, name);
      if (target) {
        makeHardlink(node, target);
        continue;
      }
      fill(node, child.inode);
      if (child.inode.type !== 'directory') first.set(child.inode, node);
      else visit(child, node);
    }
  };
  visit(tree.root, root);
  return root;
}
