/**
 * Options for worker threads, from the process's own: a worker runs a file, so options that only
 * fit the main entry (--input-type for -e code) are dropped, and so are V8 heap sizes, which a
 * worker refuses in execArgv (each worker sets its own limits with resourceLimits).
 */
export function workerExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(input-type|expose[-_]gc|max[-_]semi[-_]space[-_]size|max[-_]old[-_]space[-_]size|max[-_]young[-_]generation[-_]size|min[-_]semi[-_]space[-_]size)/.test(arg));
}
