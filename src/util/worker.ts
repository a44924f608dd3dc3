/**
 * Worker threads started with the process's own options where a worker takes them: options that
 * only fit the main entry (--input-type for -e code) are dropped, and so are the ones a worker
 * refuses (V8 options such as --max-semi-space-size or --expose-gc, which act process-wide
 * anyway, and per-process ones): Node names them in its refusal, and the worker starts without.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startWorker(script: URL, options: WorkerOptions = {}): Worker {
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
  try {
    return new Worker(script, { ...options, execArgv });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    // "Initiated Worker with invalid execArgv flags: --a, --b=1"
    const refused = new Set((err as Error).message.replace(/^[^:]*:/, '').split(',').map((flag) => flag.trim()));
    return new Worker(script, { ...options, execArgv: execArgv.filter((arg) => !refused.has(arg)) });
  }
}
