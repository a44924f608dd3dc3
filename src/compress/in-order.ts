/**
 * Jobs that run at once but whose outputs are taken in order (parallel gzip chunks, zstd
 * frames). Each job's outcome is kept as a value, so a job that fails before its turn is not an
 * unhandled rejection; its error is thrown when its turn comes.
 */
export class InOrder<T> {
  private readonly queue: Promise<{ value: T } | { error: unknown }>[] = [];

  get length(): number {
    return this.queue.length;
  }

  add(job: Promise<T>): void {
    this.queue.push(job.then((value) => ({ value }), (error: unknown) => ({ error })));
  }

  /** The oldest job's output; throws its error if it failed. */
  async next(): Promise<T> {
    const outcome = await this.queue.shift()!;
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }
}
