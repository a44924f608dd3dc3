/**
 * Progress is a stream of typed events from the library; only src/cli renders them (bars on a
 * terminal, lines in CI, JSON for scripts). The library never prints.
 */
export type ProgressEvent =
  | { type: 'started'; id: string; kind: 'manifest' | 'index' | 'config' | 'layer' | 'blob'; size: number }
  | { type: 'progress'; id: string; bytes: number; size: number }
  | { type: 'skipped'; id: string; kind: string; size: number; reason: string }
  | { type: 'done'; id: string; size: number }
  | { type: 'message'; text: string }
  | { type: 'error'; id?: string; message: string };

export type Reporter = (event: ProgressEvent) => void;

export const silentReporter: Reporter = () => {};
