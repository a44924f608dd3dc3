/**
 * The thread that turns file contents split out of layers into staged objects (file-objects.ts
 * is its other half): fs-verity hash, compare with an object the store already has, or write a
 * temp file in the staging folder. Messages arrive in order and are answered in order.
 */
import { closeSync, openSync, writeSync, writevSync } from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { FsVerityHasher } from '../verity/fsverity.js';
import { listObjectIds } from './object-listing.js';
import { sameContent } from './same-content.js';
import { FLAG_LAST, FLAG_STREAM, type FileObjectBatch, type FileObjectResult, type FileObjectSetup, type FileObjectReply } from './file-objects.js';

const setup = workerData as FileObjectSetup;

interface OpenFile {
  hasher: FsVerityHasher;
  /** Small files: pieces kept until the last one, so a file the store has costs no write. */
  pieces?: Buffer[];
  /** Large files: written as they come. */
  fd?: number;
  temp?: string;
}

const files = new Map<number, OpenFile>();
let counter = 0;
let known: Set<string> | undefined;

/** The objects the store held when first asked (a hint: a hit is compared byte for byte). */
function mayHave(id: string): boolean {
  known ??= listObjectIds(setup.objectsDir);
  return known.has(id);
}

const tempName = () => path.join(setup.stagingDir, `w${counter++}`);

function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
}

function finishSmall(file: OpenFile, fileId: number): FileObjectResult {
  const pieces = file.pieces!;
  for (const piece of pieces) file.hasher.update(piece);
  const id = file.hasher.hex();
  const size = file.hasher.size;
  if (mayHave(id) && sameContent(path.join(setup.objectsDir, id.slice(0, 2), id.slice(2)), pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size))) {
    return { fileId, id, temp: null };
  }
  const temp = tempName();
  const fd = openSync(temp, 'w');
  try {
    let written = 0;
    while (written < size) {
      // writev may write part of what it was given: skip what is done, go on with the rest.
      let skip = written;
      const rest: Buffer[] = [];
      for (const piece of pieces) {
        if (skip >= piece.length) skip -= piece.length;
        else {
          rest.push(skip > 0 ? piece.subarray(skip) : piece);
          skip = 0;
        }
      }
      written += writevSync(fd, rest);
    }
  } finally {
    closeSync(fd);
  }
  return { fileId, id, temp };
}

function handle(batch: FileObjectBatch): FileObjectResult[] {
  const data = Buffer.from(batch.data);
  const results: FileObjectResult[] = [];
  for (let i = 0; i < batch.parts.length; i += 4) {
    const fileId = batch.parts[i]!;
    const start = batch.parts[i + 1]!;
    const end = batch.parts[i + 2]!;
    const flags = batch.parts[i + 3]!;
    let file = files.get(fileId);
    if (!file) {
      file = { hasher: new FsVerityHasher() };
      if (flags & FLAG_STREAM) {
        file.temp = tempName();
        file.fd = openSync(file.temp, 'w');
      } else file.pieces = [];
      files.set(fileId, file);
    }
    const piece = data.subarray(start, end);
    if (file.pieces) file.pieces.push(piece);
    else {
      file.hasher.update(piece);
      writeAll(file.fd!, piece);
    }
    if (flags & FLAG_LAST) {
      files.delete(fileId);
      if (file.pieces) results.push(finishSmall(file, fileId));
      else {
        closeSync(file.fd!);
        results.push({ fileId, id: file.hasher.hex(), temp: file.temp! });
      }
    }
  }
  // The batch's memory goes back to be filled again: a file still open keeps a copy of its pieces.
  for (const file of files.values()) {
    if (file.pieces) file.pieces = file.pieces.map((piece) => (piece.buffer === batch.data ? Buffer.from(piece) : piece));
  }
  return results;
}

parentPort!.on('message', (batch: FileObjectBatch) => {
  let reply: FileObjectReply;
  try {
    reply = { batch: batch.batch, results: handle(batch), data: batch.data };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply = { batch: batch.batch, error: { message: e.message, ...(e.code ? { code: e.code } : {}) } };
  }
  parentPort!.postMessage(reply, 'data' in reply ? [reply.data] : []);
});
