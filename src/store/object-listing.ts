/** The objects a store holds, listed with one readdir per fan-out folder (the file-object thread's hint). */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { isEnoent } from '../util/fs.js';

/** Object ids (fan-out folder name + file name). */
export function listObjectIds(objectsDir: string): Set<string> {
  const ids = new Set<string>();
  let fans: string[];
  try {
    fans = readdirSync(objectsDir);
  } catch (err) {
    if (!isEnoent(err)) throw err;
    return ids; // a store with no object yet
  }
  for (const fan of fans) {
    if (fan.length !== 2) continue;
    for (const rest of readdirSync(path.join(objectsDir, fan))) ids.add(fan + rest);
  }
  return ids;
}
