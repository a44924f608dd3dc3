/**
 * Renders the library's progress events: a bar per blob and a total on a terminal, a plain line
 * per blob at start, every few seconds and at the end off a terminal (CI), one JSON object per
 * line with --json, nothing with --quiet.
 */
import { shortDigest } from '../oci/digest.js';
import type { ProgressEvent, Reporter } from '../copy/progress.js';

export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

/** Off a terminal, a running blob gets a line at most this often. */
const PLAIN_INTERVAL_MS = 5000;
/** On a terminal, redraw at most this often. */
const TTY_INTERVAL_MS = 100;
/** JSON progress events per blob at most this often (start and done always). */
const JSON_INTERVAL_MS = 1000;

export function progressMode(options: { json?: boolean; quiet?: boolean }, stream: { isTTY?: boolean }): ProgressMode {
  if (options.quiet) return 'quiet';
  if (options.json) return 'json';
  return stream.isTTY ? 'tty' : 'plain';
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

interface Row {
  id: string;
  kind: string;
  size: number;
  bytes: number;
  started: number;
  lastPrinted: number;
  state: 'running' | 'done' | 'skipped';
}

export interface Renderer {
  reporter: Reporter;
  /** Draws the final state and stops redrawing. */
  finish(): void;
}

export function createRenderer(mode: ProgressMode, err: NodeJS.WritableStream, out: NodeJS.WritableStream): Renderer {
  const rows = new Map<string, Row>();
  const now = () => Date.now();
  if (mode === 'quiet') return { reporter: () => {}, finish: () => {} };
  if (mode === 'json') {
    const reporter: Reporter = (event) => {
      if (event.type === 'progress') {
        const row = rows.get(event.id);
        if (row && now() - row.lastPrinted < JSON_INTERVAL_MS) return;
        if (row) row.lastPrinted = now();
      }
      if (event.type === 'started') rows.set(event.id, { id: event.id, kind: event.kind, size: event.size, bytes: 0, started: now(), lastPrinted: now(), state: 'running' });
      out.write(`${JSON.stringify(event)}\n`);
    };
    return { reporter, finish: () => {} };
  }
  if (mode === 'plain') {
    const reporter: Reporter = (event: ProgressEvent) => {
      switch (event.type) {
        case 'started':
          rows.set(event.id, { id: event.id, kind: event.kind, size: event.size, bytes: 0, started: now(), lastPrinted: now(), state: 'running' });
          err.write(`${event.kind} ${shortDigest(event.id)}: started (${formatBytes(event.size)})\n`);
          break;
        case 'progress': {
          const row = rows.get(event.id);
          if (!row) break;
          row.bytes = event.bytes;
          if (now() - row.lastPrinted >= PLAIN_INTERVAL_MS) {
            row.lastPrinted = now();
            err.write(`${row.kind} ${shortDigest(event.id)}: ${formatBytes(event.bytes)} of ${formatBytes(event.size)}\n`);
          }
          break;
        }
        case 'done': {
          const row = rows.get(event.id);
          if (row) err.write(`${row.kind} ${shortDigest(event.id)}: done (${formatBytes(event.size)} in ${((now() - row.started) / 1000).toFixed(1)} s)\n`);
          break;
        }
        case 'skipped':
          err.write(`${event.kind} ${shortDigest(event.id)}: skipped, ${event.reason}\n`);
          break;
        case 'message':
          err.write(`${event.text}\n`);
          break;
        case 'error':
          break;
      }
    };
    return { reporter, finish: () => {} };
  }
  // Terminal: redraw the block of bars in place.
  let drawnLines = 0;
  let lastDraw = 0;
  const draw = (force: boolean) => {
    if (!force && now() - lastDraw < TTY_INTERVAL_MS) return;
    lastDraw = now();
    const lines: string[] = [];
    let total = 0;
    let have = 0;
    for (const row of rows.values()) {
      total += row.size;
      have += row.state === 'running' ? row.bytes : row.size;
      const fraction = row.size ? Math.min(1, row.bytes / row.size) : 1;
      const width = 24;
      const filled = row.state === 'running' ? Math.round(fraction * width) : width;
      const rate = row.state === 'running' ? `${formatBytes(row.bytes / Math.max(0.001, (now() - row.started) / 1000))}/s` : row.state;
      lines.push(`${row.kind.padEnd(6)} ${shortDigest(row.id)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(row.state === 'running' ? row.bytes : row.size)}/${formatBytes(row.size)} ${rate}`);
    }
    lines.push(`total  ${formatBytes(have)} of ${formatBytes(total)}`);
    let text = drawnLines > 0 ? `\x1b[${drawnLines}F` : '';
    text += lines.map((l) => `\x1b[2K${l}`).join('\n') + '\n';
    drawnLines = lines.length;
    err.write(text);
  };
  const reporter: Reporter = (event) => {
    switch (event.type) {
      case 'started':
        rows.set(event.id, { id: event.id, kind: event.kind, size: event.size, bytes: 0, started: now(), lastPrinted: 0, state: 'running' });
        break;
      case 'progress': {
        const row = rows.get(event.id);
        if (row) row.bytes = event.bytes;
        break;
      }
      case 'done': {
        const row = rows.get(event.id);
        if (row) row.state = 'done';
        break;
      }
      case 'skipped':
        rows.set(event.id, { id: event.id, kind: event.kind, size: event.size, bytes: event.size, started: now(), lastPrinted: 0, state: 'skipped' });
        break;
      case 'message':
        draw(true);
        err.write(`${event.text}\n`);
        drawnLines = 0;
        return;
      case 'error':
        return;
    }
    draw(event.type !== 'progress');
  };
  return { reporter, finish: () => draw(true) };
}
