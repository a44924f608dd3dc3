/** What every command gets: the store location, output streams, and helpers to print. */
import type { Command } from 'commander';
import { OcitoolError } from '../errors.js';
import type { Store } from '../store/store.js';
import { defaultStoreDir } from '../store/paths.js';

export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** The store folder from --store or the environment. */
  storeDir(): string;
  openStore(): Promise<Store>;
  /** Prints one line to stdout (data) */
  print(line: string): void;
  /** Prints one line to stderr (messages for people) */
  note(line: string): void;
}

/** `--wait SECONDS`: a number of seconds, 0 for "do not wait". */
function lockWaitSeconds(program: Command): number | undefined {
  const opt = program.opts<{ wait?: string }>().wait;
  if (opt === undefined) return undefined;
  const seconds = Number(opt);
  if (opt.trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new OcitoolError('USAGE', `--wait ${JSON.stringify(opt)}: expected a number of seconds (0 or more)`);
  return seconds;
}

export function createContext(program: Command, command?: string): CliContext {
  const storeDir = () => {
    const opt = program.opts<{ store?: string }>().store;
    return opt ?? defaultStoreDir();
  };
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    storeDir,
    // Loaded on first use: commands that never open the store start faster.
    openStore: async () =>
      (await import('../store/store.js')).Store.open(storeDir(), { onLockWait: (m) => ctx.note(`ocitool: ${m}`), lockWaitSeconds: lockWaitSeconds(program), command: `ocitool ${command ?? ''}`.trim() }),
    print: (line) => void process.stdout.write(`${line}\n`),
    note: (line) => void process.stderr.write(`${line}\n`),
  };
  return ctx;
}

export function printJson(ctx: CliContext, value: unknown): void {
  ctx.print(JSON.stringify(value, null, 2));
}
