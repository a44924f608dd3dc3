/** A worker thread of fsverityDigestOfFile: hashes claimed pieces of the file, then exits. */
import { workerData } from 'node:worker_threads';
import { hashClaimedPieces, type BlockHashJob } from './file-digest.js';

hashClaimedPieces(workerData as BlockHashJob);
