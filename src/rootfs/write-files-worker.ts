/**
 * A worker thread of writeTree: started before the folders are made (its start-up overlaps that
 * work), it receives the file jobs in one message, writes the files it claims (write-files.ts),
 * then reports its counts or its failure and exits.
 */
import { parentPort } from 'node:worker_threads';
import { OcitoolError } from '../errors.js';
import { writeClaimedFiles, type FilesWork } from './write-files.js';

parentPort!.once('message', (work: FilesWork | null) => {
  if (work === null) {
    // The checkout failed before the files: say so, so the main thread can tell a stopped
    // worker from one that died.
    parentPort!.postMessage({ cancelled: true });
    return;
  }
  try {
    parentPort!.postMessage({ stats: writeClaimedFiles(work) });
  } catch (err) {
    // Sent as data: the main thread rebuilds the error with its code.
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ error: { code: err instanceof OcitoolError ? err.code : undefined, errno: e.code, message: e.message } });
  }
});
