/**
 * One syncfs(2) for the filesystem holding `dir` (coreutils `sync -f`), instead of an fsync per
 * file: an import or pull writes thousands of files and per-file fsync dominated its time. Node
 * has no syncfs binding; falls back to a full `sync`.
 */
import { spawnSync } from 'node:child_process';
import { OcitoolError } from '../errors.js';

export function syncFilesystem(dir: string): void {
  if (spawnSync('sync', ['-f', dir], { stdio: 'ignore' }).status === 0) return;
  if (spawnSync('sync', [], { stdio: 'ignore' }).status !== 0) throw new OcitoolError('IO', `${dir}: sync failed`);
}
