// The file-object thread on its own: files cut across batches come back in order with their
// fs-verity ids (checked against the in-process hasher, which the fsverity tests check against
// `fsverity digest`) and staged bytes; an object the store holds is not written again; a stop
// answers every file still waiting with a failure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileObjectThread, type FileObjectResult } from '../../src/store/file-objects.js';
import { FsVerityHasher } from '../../src/verity/fsverity.js';
import { patternBytes } from '../helpers/images.js';
import { removeDir, tempDir } from '../helpers/index.js';

let dir: string;
before(async () => {
  dir = await tempDir('ocitool-file-objects-');
});
after(() => removeDir(dir));

async function setup(name: string): Promise<{ objectsDir: string; stagingDir: string }> {
  const objectsDir = path.join(dir, name, 'objects');
  const stagingDir = path.join(dir, name, 'staging');
  await mkdir(objectsDir, { recursive: true });
  await mkdir(stagingDir, { recursive: true });
  return { objectsDir, stagingDir };
}

test('files written in pieces across batches come back in order with their fs-verity ids and staged bytes; a held object is not written again', async () => {
  const places = await setup('order');
  // Sizes around the 1 MiB batch and the in-memory limit, written in uneven pieces.
  const contents = [100, 4096, 4097, 700_000, 1024 * 1024, 1024 * 1024 + 1, 2_500_000, 65].map((size, i) => patternBytes(size, i + 1));
  const held = contents[2]!;
  const heldId = new FsVerityHasher().update(held).hex();
  await mkdir(path.join(places.objectsDir, heldId.slice(0, 2)));
  await writeFile(path.join(places.objectsDir, heldId.slice(0, 2), heldId.slice(2)), held);
  const thread = new FileObjectThread(places);
  try {
    const answers: number[] = [];
    const pending = contents.map((data, i) => new Promise<FileObjectResult>((resolve, reject) => {
      const fileId = thread.begin(data.length > 1024 * 1024, (err, result) => {
        answers.push(i);
        if (err) reject(err);
        else resolve(result!);
      });
      for (let at = 0; at < data.length; at += 300_001) thread.write(fileId, data.subarray(at, at + 300_001));
      thread.end(fileId);
    }));
    thread.flush(); // the last batch is not full
    const results = await Promise.all(pending);
    assert.deepEqual(answers, contents.map((_, i) => i), 'answered in the order the files were begun');
    for (let i = 0; i < contents.length; i++) {
      const result = results[i]!;
      assert.equal(result.id, new FsVerityHasher().update(contents[i]!).hex(), `file ${i}: id`);
      if (contents[i] === held) assert.equal(result.temp, null, 'the store holds these bytes: not written');
      else assert.ok((await readFile(result.temp!)).equals(contents[i]!), `file ${i}: staged bytes`);
    }
  } finally {
    await thread.stop();
  }
});

test('stopping the thread answers every file still waiting with a failure, and later calls fail at once', async () => {
  const places = await setup('stop');
  const thread = new FileObjectThread(places);
  const answered = new Promise<Error | undefined>((resolve) => {
    const fileId = thread.begin(true, (err) => resolve(err));
    thread.write(fileId, patternBytes(2 * 1024 * 1024, 5)); // two full batches handed over, no end
  });
  await thread.stop();
  const err = await answered;
  assert.match(String(err?.message), /stopped/);
  assert.throws(() => thread.begin(false, () => {}), /stopped/);
  // The temp file it was writing stays for the staging folder's removal; nothing else appeared.
  assert.ok((await readdir(places.stagingDir)).length <= 1);
});
