/**
 * File contents split out of layers become staged objects on a thread of their own
 * (file-object-worker.ts): the fs-verity hash, the compare with an object the store has and the
 * temp-file write are most of the per-file work, and on the main thread they kept gunzip waiting.
 * Here the main thread only copies each file's bytes into a batch (one memcpy) and hands the
 * batch over without a copy; answers come back in order, a callback per file.
 *
 * One thread serves a whole operation (every layer of a pull shares it); it is started on first
 * use and stopped when the staging folder is removed.
 */
import type { Worker } from 'node:worker_threads';
import type { ObjectId } from '../verity/fsverity.js';
import { startWorker } from '../util/worker.js';
import { ioError } from '../util/output.js';

/** The part ends its file. */
export const FLAG_LAST = 1;
/** The file is written as it comes (large files) instead of hashed in memory first. */
export const FLAG_STREAM = 2;

export interface FileObjectSetup {
  objectsDir: string;
  stagingDir: string;
}

export interface FileObjectBatch {
  batch: number;
  data: ArrayBuffer;
  /** Per part: file number, start, end (in data), flags. */
  parts: number[];
}

export interface FileObjectResult {
  fileId: number;
  id: ObjectId;
  /** The staged temp file; null when the store already holds these exact bytes. */
  temp: string | null;
}

export type FileObjectReply = { batch: number; results: FileObjectResult[]; data: ArrayBuffer } | { batch: number; error: { message: string; code?: string } };

export type FileObjectDone = (err: Error | undefined, result?: FileObjectResult) => void;

/** Bytes per batch handed to the thread. */
const BATCH_BYTES = 1024 * 1024;
/** The thread allocates little that lives: a small young generation keeps its memory small. */
const YOUNG_GENERATION_MB = 4;
/** Batch buffers kept for reuse (fresh memory costs a page fault per 4 KiB). */
const SPARE_BATCHES = 4;
/** Bytes handed over and not yet answered before writers wait (bounds memory). */
const IN_FLIGHT_MAX = 8 * 1024 * 1024;

export class FileObjectThread {
  private worker: Worker | undefined;
  private nextFile = 0;
  private nextBatch = 0;
  private buffer: Buffer | undefined;
  private fill = 0;
  private parts: number[] = [];
  private spare: ArrayBuffer[] = [];
  private readonly open = new Map<number, { flags: number; done: FileObjectDone }>();
  private readonly sent = new Map<number, number>();
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private failure: Error | undefined;
  private stopped = false;

  constructor(private readonly setup: FileObjectSetup) {}

  /** Starts a file; `done` is called once with its object id, or with the thread's failure. */
  begin(stream: boolean, done: FileObjectDone): number {
    this.check();
    const fileId = this.nextFile++;
    this.open.set(fileId, { flags: stream ? FLAG_STREAM : 0, done });
    return fileId;
  }

  /** Copies `data` into the batch (the caller may reuse its buffer at once). */
  write(fileId: number, data: Buffer): void {
    this.check();
    const flags = this.open.get(fileId)!.flags;
    let at = 0;
    while (at < data.length) {
      if (!this.buffer) {
        const reuse = this.spare.pop();
        this.buffer = reuse ? Buffer.from(reuse) : Buffer.allocUnsafeSlow(BATCH_BYTES);
      }
      const n = Math.min(data.length - at, BATCH_BYTES - this.fill);
      data.copy(this.buffer, this.fill, at, at + n);
      this.parts.push(fileId, this.fill, this.fill + n, flags);
      this.fill += n;
      at += n;
      if (this.fill === BATCH_BYTES) this.send();
    }
  }

  end(fileId: number): void {
    this.check();
    const last = this.parts.length - 4;
    if (last >= 0 && this.parts[last] === fileId) this.parts[last + 3]! |= FLAG_LAST;
    else this.parts.push(fileId, this.fill, this.fill, this.open.get(fileId)!.flags | FLAG_LAST);
  }

  /** Hands over what is batched, and waits while too much is in flight. */
  async belowLimit(): Promise<void> {
    while (this.inFlight + this.fill > IN_FLIGHT_MAX && !this.failure) {
      if (this.fill > 0) this.send();
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.check();
  }

  /** Hands over the batch even if not full (a layer ends). */
  flush(): void {
    this.check();
    if (this.parts.length > 0) this.send();
  }

  /**
   * Stops the thread (terminating it closes the files it had open). Files not answered yet are
   * answered with a failure, so nothing waits forever; their temp files go with the staging folder.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
    this.failure ??= new Error('the file-object thread was stopped');
    const files = [...this.open.values()];
    this.open.clear();
    for (const file of files) file.done(this.failure);
    this.wake();
  }

  /** The thread's failure once it has failed (a write error there fails every file after it). */
  get failed(): Error | undefined {
    return this.failure;
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.stopped) throw new Error('the file-object thread was stopped');
  }

  private send(): void {
    const worker = (this.worker ??= this.start());
    const batch = this.nextBatch++;
    const data = this.buffer ? this.buffer.buffer : new ArrayBuffer(0);
    const message: FileObjectBatch = { batch, data: data as ArrayBuffer, parts: this.parts };
    this.sent.set(batch, this.fill);
    this.inFlight += this.fill;
    this.buffer = undefined;
    this.fill = 0;
    this.parts = [];
    if (this.sent.size === 1) worker.ref(); // answers are awaited: keep the process alive for them
    worker.postMessage(message, [data as ArrayBuffer]);
  }

  private start(): Worker {
    const worker = startWorker(new URL('./file-object-worker.js', import.meta.url), {
      workerData: this.setup,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    worker.on('message', (reply: FileObjectReply) => this.onReply(reply));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (!this.stopped) this.fail(new Error(`the file-object thread exited with code ${code}`));
    });
    return worker;
  }

  private onReply(reply: FileObjectReply): void {
    this.inFlight -= this.sent.get(reply.batch) ?? 0;
    this.sent.delete(reply.batch);
    if (this.sent.size === 0) this.worker?.unref();
    if ('error' in reply) {
      this.fail(Object.assign(new Error(reply.error.message), reply.error.code ? { code: reply.error.code } : {}));
      return;
    }
    if (reply.data.byteLength === BATCH_BYTES && this.spare.length < SPARE_BATCHES) this.spare.push(reply.data);
    for (const result of reply.results) {
      const file = this.open.get(result.fileId);
      this.open.delete(result.fileId);
      file?.done(undefined, result);
    }
    this.wake();
  }

  private fail(err: Error): void {
    if (this.failure || this.stopped) return;
    const failure = ioError(this.setup.stagingDir, err, 'cannot write file objects');
    this.failure = failure;
    const files = [...this.open.values()];
    this.open.clear();
    for (const file of files) file.done(failure);
    this.wake();
  }

  private wake(): void {
    if (this.inFlight > IN_FLIGHT_MAX / 2 && !this.failure) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * One object written as it streams (a layer's compressed blob) on the file-object thread, so its
 * fs-verity hash and write run beside the main thread's decompression and parsing.
 */
export class ThreadedObjectWriter {
  private readonly fileId: number;
  /** The thread's answer when it came before `finish` asked for it. */
  private answer: { err: Error | undefined; result: FileObjectResult | undefined } | undefined;
  private waiting: FileObjectDone | undefined;

  constructor(private readonly thread: FileObjectThread) {
    // No promise until `finish`: a writer whose layer failed before it finished is never asked,
    // and its answer (the same failure, or a temp file the staging folder's removal takes) stays here.
    this.fileId = thread.begin(true, (err, result) => {
      if (this.waiting) this.waiting(err, result);
      else this.answer = { err, result };
    });
  }

  writeSync(chunk: Buffer): void {
    this.thread.write(this.fileId, chunk);
  }

  /** The object's id and its staged temp file, once the thread has written it all. */
  async finish(): Promise<FileObjectResult> {
    this.thread.end(this.fileId);
    this.thread.flush();
    return new Promise<FileObjectResult>((resolve, reject) => {
      const settle: FileObjectDone = (err, result) => (err ? reject(err) : resolve(result!));
      if (this.answer) settle(this.answer.err, this.answer.result);
      else this.waiting = settle;
    });
  }
}
