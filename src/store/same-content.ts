/** Comparing a staged file's bytes with an object the store already has (staging and its file-object thread). */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isEnoent } from '../util/fs.js';

/** Whether `file` holds exactly `data`; false when it is absent. Synchronous: see StagingArea. */
export function sameContent(file: string, data: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if (isEnoent(err)) return false;
    throw err;
  }
  try {
    if (fstatSync(fd).size !== data.length) return false;
    const existing = Buffer.allocUnsafe(data.length);
    let got = 0;
    while (got < data.length) {
      const n = readSync(fd, existing, got, data.length - got, got);
      if (n === 0) return false;
      got += n;
    }
    return existing.equals(data);
  } finally {
    closeSync(fd);
  }
}
