/** The objects a store holds, listed with one readdir per fan-out folder (staging and the file-object thread). */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { isEnoent } from '../util/fs.js';

export interface ObjectListing {
  /** Object ids (fan-out folder name + file name). */
  ids: Set<string>;
  /** The fan-out folders that exist. */
  fanOuts: Set<string>;
}

export function listObjects(objectsDir: string): ObjectListing {
  const listing: ObjectListing = { ids: new Set(), fanOuts: new Set() };
  let fans: string[];
  try {
    fans = readdirSync(objectsDir);
  } catch (err) {
    if (!isEnoent(err)) throw err;
    return listing; // a store with no object yet
  }
  for (const fan of fans) {
    if (fan.length !== 2) continue;
    listing.fanOuts.add(fan);
    for (const rest of readdirSync(path.join(objectsDir, fan))) listing.ids.add(fan + rest);
  }
  return listing;
}
