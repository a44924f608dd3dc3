/**
 * Renders the library's progress events (docs/events.md) in one of four modes:
 * - tty: a live block (one line per running blob and a status line) redrawn in place, fitted to
 *   the terminal width (truncated, never wrapped), finished blobs written once above it;
 * - plain: a line per blob at start, every few seconds and at the end, no escape codes (CI, logs);
 * - json: one JSON object per stdout line, the last one a `result` event;
 * - quiet: nothing.
 * `--progress auto|tty|plain|json` chooses (auto: tty on a terminal, plain when not a TTY, when
 * CI is set or TERM=dumb); `--json` means json and `-q` quiet.
 */
import { Option, type Command } from 'commander';
import { OcitoolError } from '../errors.js';
import { shortDigest } from '../oci/digest.js';
import type { ProgressEvent, Reporter } from '../copy/progress.js';

export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';
export const PROGRESS_CHOICES = ['auto', 'tty', 'plain', 'json'] as const;
export type ProgressChoice = (typeof PROGRESS_CHOICES)[number];

/** Off a terminal, a running blob gets a line at most this often. */
const PLAIN_INTERVAL_MS = 5000;
/** On a terminal, redraw at most this often for byte counts (state changes redraw at once). */
const TTY_INTERVAL_MS = 100;
/** While a phase runs, the elapsed time is redrawn this often, so the screen shows life. */
const PHASE_TICK_MS = 500;
/** JSON progress events per blob at most this often (start and done always). */
const JSON_INTERVAL_MS = 1000;
/** Width assumed when a terminal does not say. */
const DEFAULT_COLUMNS = 80;

/** Whether the environment says "continuous integration": CI set to anything but "", 0 or false. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env['CI'];
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** What `--progress CHOICE` means for this stream and environment. */
export function selectProgressMode(choice: string, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Exclude<ProgressMode, 'quiet'> {
  switch (choice) {
    case 'tty':
    case 'plain':
    case 'json':
      return choice;
    case 'auto':
      if (!stream.isTTY || isCi(env) || env['TERM'] === 'dumb') return 'plain';
      return 'tty';
    default:
      throw new OcitoolError('USAGE', `--progress must be one of ${PROGRESS_CHOICES.join(', ')}, not "${choice}"`);
  }
}

/** The mode from a command's flags: -q wins, then --json, then --progress (default auto). */
export function progressMode(options: { json?: boolean; quiet?: boolean; progress?: string }, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (options.quiet) return 'quiet';
  if (options.json) return 'json';
  return selectProgressMode(options.progress ?? 'auto', stream, env);
}

/** Adds `--progress <mode>` to a command, the same everywhere; read it with progressMode(opts, …). */
export function addProgressOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--progress <mode>', 'progress display: auto (bars on a terminal, lines in CI or logs), tty, plain, or json (same as --json)').choices([...PROGRESS_CHOICES]),
  );
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

/** What a command did, for the last line (or the `result` event): see docs/events.md. */
export interface CommandResult {
  /** Past-tense verb for people: pulled, imported, loaded, saved, converted. */
  action: string;
  images: ResultImage[];
  /** Where the images went when not the store: a layout folder, a file, "stdout". */
  destination?: string;
}

export interface ResultImage {
  /** Store tags or layout refs given to the image; empty when it is kept untagged. */
  names: string[];
  /** The root digest as the destination holds it (manifest or index). */
  digest: string;
  mediaType?: string;
  /** os/arch[/variant] of each manifest copied. */
  platforms?: string[];
}

/** The `result` event: the last JSON line of a command (docs/events.md). */
export function resultEvent(result: CommandResult): Record<string, unknown> {
  return {
    type: 'result',
    action: result.action,
    ...(result.destination !== undefined ? { destination: result.destination } : {}),
    images: result.images.map((image) => ({
      names: image.names,
      digest: image.digest,
      ...(image.mediaType ? { mediaType: image.mediaType } : {}),
      platforms: image.platforms ?? [],
    })),
  };
}

/** The lines for people naming what was done: `pulled NAME DIGEST`, one per name. */
export function summaryLines(result: CommandResult): string[] {
  const to = result.destination !== undefined ? ` to ${result.destination}` : '';
  const lines: string[] = [];
  for (const image of result.images) {
    if (image.names.length === 0) lines.push(`${result.action} ${image.digest} (untagged)${to}`);
    for (const name of image.names) lines.push(`${result.action} ${name} ${image.digest}${to}`);
  }
  return lines;
}

export interface Renderer {
  reporter: Reporter;
  /** Stops redrawing and leaves a final total line (tty, plain). Safe to call twice. */
  finish(): void;
  /**
   * The last output of a command: the `result` event on `out` in json mode, the summary lines
   * on `err` in tty and plain modes, nothing when quiet. Calls finish() first.
   */
  result(result: CommandResult): void;
}

export interface RendererOptions {
  /** Clock, for tests that need stable rates. */
  now?: () => number;
}

/** A stream a renderer writes to; terminals also have columns, rows and 'resize' events. */
export type OutputStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };

interface Row {
  id: string;
  kind: string;
  size: number;
  bytes: number;
  started: number;
  lastPrinted: number;
}

interface Totals {
  transferred: number;
  blobs: number;
  present: number;
  presentBytes: number;
}

export function createRenderer(mode: ProgressMode, err: OutputStream, out: OutputStream, options: RendererOptions = {}): Renderer {
  const now = options.now ?? Date.now;
  if (mode === 'quiet') {
    return { reporter: () => {}, finish: () => {}, result: () => {} };
  }
  if (mode === 'json') return jsonRenderer(out, now);
  if (mode === 'plain') return plainRenderer(err, now);
  return ttyRenderer(err, now);
}

function jsonRenderer(out: OutputStream, now: () => number): Renderer {
  const lastPrinted = new Map<string, number>();
  const reporter: Reporter = (event) => {
    if (event.type === 'progress') {
      const last = lastPrinted.get(event.id);
      if (last !== undefined && now() - last < JSON_INTERVAL_MS) return;
      lastPrinted.set(event.id, now());
    }
    if (event.type === 'started') lastPrinted.set(event.id, now());
    out.write(`${JSON.stringify(event)}\n`);
  };
  return { reporter, finish: () => {}, result: (result) => void out.write(`${JSON.stringify(resultEvent(result))}\n`) };
}

function totalLine(t: Totals, short = false): string {
  const present = t.present ? `, ${t.present} already present${short ? '' : ` (${formatBytes(t.presentBytes)})`}` : '';
  return `transferred ${formatBytes(t.transferred)} in ${t.blobs} blob${t.blobs === 1 ? '' : 's'}${present}`;
}

function plainRenderer(err: OutputStream, now: () => number): Renderer {
  const rows = new Map<string, Row>();
  const totals: Totals = { transferred: 0, blobs: 0, present: 0, presentBytes: 0 };
  let finished = false;
  const line = (text: string) => void err.write(`${text}\n`);
  const reporter: Reporter = (event: ProgressEvent) => {
    switch (event.type) {
      case 'started':
        rows.set(event.id, { id: event.id, kind: event.kind, size: event.size, bytes: 0, started: now(), lastPrinted: now() });
        line(`${event.kind} ${shortDigest(event.id)}: started (${formatBytes(event.size)})`);
        break;
      case 'progress': {
        const row = rows.get(event.id);
        if (!row) break;
        row.bytes = event.bytes;
        if (now() - row.lastPrinted >= PLAIN_INTERVAL_MS) {
          row.lastPrinted = now();
          line(`${row.kind} ${shortDigest(event.id)}: ${formatBytes(event.bytes)} of ${formatBytes(event.size)}`);
        }
        break;
      }
      case 'done': {
        const row = rows.get(event.id);
        if (!row) break;
        rows.delete(event.id);
        totals.transferred += event.size;
        totals.blobs++;
        line(`${row.kind} ${shortDigest(event.id)}: done (${formatBytes(event.size)} in ${((now() - row.started) / 1000).toFixed(1)} s)`);
        break;
      }
      case 'skipped':
        totals.present++;
        totals.presentBytes += event.size;
        line(`${event.kind} ${shortDigest(event.id)}: skipped, already present (${formatBytes(event.size)})`);
        break;
      case 'phase':
        line(`${event.name}${event.detail ? `: ${event.detail}` : ''}…`);
        break;
      case 'message':
        line(event.text);
        break;
      case 'error':
        break;
    }
  };
  const finish = () => {
    if (finished) return;
    finished = true;
    if (totals.blobs || totals.present) line(totalLine(totals));
  };
  return {
    reporter,
    finish,
    result: (result) => {
      finish();
      for (const text of summaryLines(result)) line(text);
    },
  };
}

/** `text` cut to `width` columns, with an ellipsis when cut. Progress text is ASCII. */
export function fitLine(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? text.slice(0, 1) : `${text.slice(0, width - 1)}…`;
}

function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

const MIN_BAR = 10;
const MAX_BAR = 30;

/**
 * One running blob in at most `width` columns. Parts are dropped, least useful first (rate, kind,
 * bar, byte counts), so the digest is always whole; below ~20 columns the line is cut.
 */
export function runningLine(row: { kind: string; id: string; bytes: number; size: number }, rate: string, width: number): string {
  const digest = shortDigest(row.id);
  const counts = `${formatBytes(row.bytes)}/${formatBytes(row.size)}`;
  const fraction = row.size ? row.bytes / row.size : 1;
  const kind = row.kind.padEnd(5);
  const layouts: Array<[string, string]> = [
    [`${kind} ${digest} `, ` ${counts} ${rate}`],
    [`${kind} ${digest} `, ` ${counts}`],
    [`${digest} `, ` ${counts}`],
    [`${digest} `, ''],
  ];
  for (const [head, tail] of layouts) {
    const room = width - head.length - tail.length - 2;
    if (room >= MIN_BAR) return `${head}${bar(fraction, Math.min(MAX_BAR, room))}${tail}`;
  }
  return fitLine(`${digest} ${counts}`.length <= width ? `${digest} ${counts}` : digest, width);
}

/** Terminal rows a written line takes at `columns`, on a terminal that reflows on resize. */
function rowsTaken(length: number, columns: number): number {
  return Math.max(1, Math.ceil(length / Math.max(1, columns)));
}

function ttyRenderer(err: OutputStream, now: () => number): Renderer {
  const running = new Map<string, Row>();
  const totals: Totals = { transferred: 0, blobs: 0, present: 0, presentBytes: 0 };
  let phase: { name: string; detail?: string; since: number } | undefined;
  /** Lengths of the lines of the live block on screen, to erase it before the next draw. */
  let drawn: number[] = [];
  let lastDraw = 0;
  let finished = false;
  let ticker: NodeJS.Timeout | undefined;
  const columns = () => (err.columns && err.columns > 0 ? err.columns : DEFAULT_COLUMNS);
  // One column is left free: some terminals wrap a line that fills the last column.
  const width = () => Math.max(1, columns() - 1);

  const statusLine = (hidden: number): string => {
    let planned = 0;
    let have = totals.transferred;
    for (const row of running.values()) {
      planned += row.size;
      have += row.bytes;
    }
    const parts = [`${phase ? '' : 'total '}${formatBytes(have)} of ${formatBytes(totals.transferred + planned)}`];
    if (totals.present) parts.push(`${totals.present} already present`);
    if (hidden) parts.push(`${hidden} more running`);
    const status = parts.join(', ');
    if (!phase) return status;
    const elapsed = ((now() - phase.since) / 1000).toFixed(1);
    return `${phase.name}${phase.detail ? ` ${phase.detail}` : ''}… ${elapsed} s | ${status}`;
  };

  /** Erases the live block: up to its first line, then clear to the end of the screen. */
  const erase = (): string => {
    if (drawn.length === 0) return '';
    const up = drawn.reduce((n, length) => n + rowsTaken(length, columns()), 0);
    drawn = [];
    return `\r\x1b[${up}A\x1b[J`;
  };

  const block = (): string[] => {
    const w = width();
    const maxRows = Math.max(1, (err.rows && err.rows > 2 ? err.rows : 24) - 2);
    const rows = [...running.values()];
    const shown = rows.slice(0, maxRows);
    const lines = shown.map((row) => {
      const seconds = Math.max(0.001, (now() - row.started) / 1000);
      return runningLine(row, `${formatBytes(row.bytes / seconds)}/s`, w);
    });
    if (rows.length || phase || totals.blobs || totals.present) lines.push(fitLine(statusLine(rows.length - shown.length), w));
    return lines;
  };

  /** Redraws the block, writing `permanent` lines (finished blobs, messages) above it first. */
  const draw = (permanent: string[] = [], force = true) => {
    if (finished) {
      if (permanent.length) err.write(permanent.map((l) => `${l}\n`).join(''));
      return;
    }
    if (!force && now() - lastDraw < TTY_INTERVAL_MS) return;
    lastDraw = now();
    const lines = block();
    let text = erase();
    for (const line of permanent) text += `${line}\n`;
    for (const line of lines) text += `${line}\n`;
    drawn = lines.map((l) => l.length);
    err.write(text);
  };

  const onResize = () => draw();
  const emitter = err as unknown as { on?: (e: string, f: () => void) => void; off?: (e: string, f: () => void) => void };
  if (typeof emitter.on === 'function') emitter.on('resize', onResize);

  const reporter: Reporter = (event) => {
    if (finished) return;
    switch (event.type) {
      case 'started':
        running.set(event.id, { id: event.id, kind: event.kind, size: event.size, bytes: 0, started: now(), lastPrinted: 0 });
        draw();
        return;
      case 'progress': {
        const row = running.get(event.id);
        if (row) row.bytes = event.bytes;
        draw([], false);
        return;
      }
      case 'done': {
        const row = running.get(event.id);
        if (!row) return;
        running.delete(event.id);
        totals.transferred += event.size;
        totals.blobs++;
        const seconds = ((now() - row.started) / 1000).toFixed(1);
        draw([fitLine(`${row.kind.padEnd(5)} ${shortDigest(row.id)} done ${formatBytes(event.size)} in ${seconds} s`, width())]);
        return;
      }
      case 'skipped':
        totals.present++;
        totals.presentBytes += event.size;
        draw([fitLine(`${event.kind.padEnd(5)} ${shortDigest(event.id)} already present`, width())]);
        return;
      case 'phase':
        phase = { name: event.name, ...(event.detail ? { detail: event.detail } : {}), since: now() };
        if (!ticker) {
          ticker = setInterval(() => draw(), PHASE_TICK_MS);
          ticker.unref();
        }
        draw();
        return;
      case 'message':
        // Messages are written whole: cutting one would lose what it says.
        draw([event.text]);
        return;
      case 'error':
        return;
    }
  };

  const finish = () => {
    if (finished) return;
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    if (typeof emitter.off === 'function') emitter.off('resize', onResize);
    let text = erase();
    if (totals.blobs || totals.present) text += `${fitLine(totalLine(totals, true), width())}\n`;
    if (text) err.write(text);
    finished = true;
  };

  return {
    reporter,
    finish,
    result: (result) => {
      finish();
      // Summary lines are written whole (they carry the full digest for copy and paste); they
      // come after the live block is gone, so wrapping cannot smear a redraw.
      for (const text of summaryLines(result)) err.write(`${text}\n`);
    },
  };
}
