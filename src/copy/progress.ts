/**
 * Progress is a stream of typed events from the library; only src/cli renders them (bars on a
 * terminal, lines in CI, JSON for scripts). The library never prints. The JSON form of every
 * event is documented in docs/events.md: change both together, additively.
 */
export type ProgressEvent =
  | { type: 'started'; id: string; kind: 'manifest' | 'index' | 'config' | 'layer' | 'blob'; size: number }
  | { type: 'progress'; id: string; bytes: number; size: number }
  | { type: 'skipped'; id: string; kind: string; size: number; reason: string }
  | { type: 'done'; id: string; size: number }
  /**
   * A step after (or between) the transfers that moves no blob bytes, so that a renderer can show
   * what is happening: 'verify' (re-checking what was written), 'commit' (making it durable and
   * naming it). `detail` is a short note for people, e.g. the number of objects.
   */
  | { type: 'phase'; name: PhaseName; detail?: string }
  | { type: 'message'; text: string }
  | { type: 'error'; id?: string; message: string };

/** Known phases; other names are allowed and shown as they are. */
export type PhaseName = 'resolve' | 'verify' | 'commit' | (string & {});

export type Reporter = (event: ProgressEvent) => void;

export const silentReporter: Reporter = () => {};
