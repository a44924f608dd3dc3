// The layer merge that checkout and composefs share: OCI whiteouts, opaque folders, hardlinks,
// replacement, and paths resolved inside the tree whatever a layer says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TreeMerger, walkTree, type LayerEntry, type MergedTree } from '../../src/rootfs/merge.js';

const t0 = { sec: 1700000000, nsec: 0 };
const dir = (name: string, mode = 0o755): LayerEntry => ({ name, type: 'directory', mode, uid: 0, gid: 0, mtime: t0, size: 0 });
const file = (name: string, text: string, mode = 0o644): LayerEntry => ({ name, type: 'file', mode, uid: 0, gid: 0, mtime: t0, size: text.length, content: { kind: 'inline', data: Buffer.from(text) } });
const symlink = (name: string, target: string): LayerEntry => ({ name, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: t0, size: 0, linkname: target });
const hardlink = (name: string, target: string): LayerEntry => ({ name, type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: t0, size: 0, linkname: target });
const whiteout = (name: string): LayerEntry => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: t0, size: 0 });

function merge(...layers: LayerEntry[][]): MergedTree {
  const m = new TreeMerger();
  layers.forEach((l, i) => m.addLayer(l, `layer ${i}`));
  return m.finish();
}

function listing(tree: MergedTree): string[] {
  const out: string[] = [];
  for (const { path, node } of walkTree(tree)) {
    if (path === '') continue;
    const i = node.inode;
    const extra = i.type === 'file' ? `=${i.content?.kind === 'inline' ? i.content.data.toString() : ''}` : i.type === 'symlink' ? `->${i.linkname}` : '';
    out.push(`${path} ${i.type}${extra}`);
  }
  return out;
}

test('later layers replace, whiteouts remove lower paths, opaque folders hide lower content', () => {
  const tree = merge(
    [dir('etc/'), file('etc/a', '1'), file('etc/b', '1'), dir('opt/'), file('opt/x', '1'), dir('opt/sub/'), file('opt/sub/y', '1')],
    [file('etc/a', '2'), whiteout('etc/.wh.b'), whiteout('opt/.wh..wh..opq'), file('opt/new', '2')],
  );
  assert.deepEqual(listing(tree), ['etc directory', 'etc/a file=2', 'opt directory', 'opt/new file=2']);
});

test('a whiteout hides only lower layers: the same layer may add the name back', () => {
  const tree = merge([file('a', '1')], [file('a', '2'), whiteout('.wh.a')]);
  assert.deepEqual(listing(tree), ['a file=2']);
});

test('a folder declared again keeps its content and takes the new mode', () => {
  const tree = merge([dir('d/', 0o755), file('d/f', '1')], [dir('d/', 0o700)]);
  assert.deepEqual(listing(tree), ['d directory', 'd/f file=1']);
  const d = [...walkTree(tree)].find((e) => e.path === 'd')!;
  assert.equal(d.node.inode.mode, 0o700);
});

test('hardlinks share one inode within a layer and to an earlier layer; nlink counts the paths', () => {
  const tree = merge([file('bin/a', 'x')], [hardlink('bin/b', 'bin/a'), hardlink('usr/c', '/bin/a')]);
  const nodes = new Map([...walkTree(tree)].map((e) => [e.path, e.node]));
  assert.equal(nodes.get('bin/a')!.inode, nodes.get('bin/b')!.inode);
  assert.equal(nodes.get('bin/a')!.inode, nodes.get('usr/c')!.inode);
  assert.equal(nodes.get('bin/a')!.inode.nlink, 3);
});

test('a replaced member of a hardlink group leaves the others intact', () => {
  const tree = merge([file('a', 'x'), hardlink('b', 'a')], [file('a', 'y')]);
  assert.deepEqual(listing(tree), ['a file=y', 'b file=x']);
});

test('breakouts resolve inside the tree: symlink to / then a file through it, .. chains, absolute names', () => {
  const tree = merge(
    [symlink('evil', '/'), symlink('up', '../../../..'), dir('etc/')],
    [file('evil/etc/passwd', 'pw'), file('up/tmp/x', 'x'), file('/abs/y', 'y'), file('../../z', 'z'), whiteout('../.wh.zz')],
  );
  assert.deepEqual(listing(tree), ['abs directory', 'abs/y file=y', 'etc directory', 'etc/passwd file=pw', 'evil symlink->/', 'tmp directory', 'tmp/x file=x', 'up symlink->../../../..', 'z file=z']);
});

test('a hardlink to a path the image lacks (/etc/passwd of the host) is refused', () => {
  assert.throws(() => merge([hardlink('x', '/etc/passwd')]), /hardlink "x" names "\/etc\/passwd", which is not in the image/);
});

test('a folder replaced by a symlink in a later layer: later entries go through it, inside the tree', () => {
  const tree = merge([dir('lib/'), file('lib/old', '1'), dir('usr/lib/')], [symlink('lib', 'usr/lib'), file('lib/new', '2')]);
  assert.deepEqual(listing(tree), ['lib symlink->usr/lib', 'usr directory', 'usr/lib directory', 'usr/lib/new file=2']);
});

test('entries under a path a whiteout removed start a fresh folder', () => {
  const tree = merge([dir('d/'), file('d/old', '1')], [whiteout('.wh.d'), file('d/new', '2')]);
  assert.deepEqual(listing(tree), ['d directory', 'd/new file=2']);
});

test('symlink loops end with one error', () => {
  assert.throws(() => merge([symlink('a', 'b'), symlink('b', 'a')], [file('a/x', '1')]), /too many symlinks/);
});

test('a file where a folder is needed is an error naming both paths', () => {
  assert.throws(() => merge([file('f', '1')], [file('f/x', '2')]), /"f\/x" needs "f" to be a folder, but it is a file/);
});
