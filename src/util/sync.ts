/**
 * One syncfs(2) for the filesystem holding `dir` (coreutils `sync -f`), instead of an fsync per
 * file: an import or pull writes thousands of files and per-file fsync dominated its time. Node
 * has no syncfs binding, so it runs as a child process, asynchronously: a synchronous spawn
 * froze every parallel download for the length of the sync. A failing sync is an error (it is how
 * a write error surfaces), never retried as a plain `sync` that would hide it.
 */
import { spawn } from 'node:child_process';
import { OcitoolError } from '../errors.js';

export function syncFilesystem(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const child = spawn('sync', ['-f', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 1000)));
    child.on('error', (err) => reject(new OcitoolError('IO', `${dir}: sync failed: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new OcitoolError('IO', `${dir}: sync failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n')[0] ?? ''}`.replace(/: $/, '')));
    });
  });
}
