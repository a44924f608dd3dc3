/**
 * The ocitool command line: parses arguments, calls the library, prints. The only place that
 * writes to the terminal or decides an exit code (1 for a failure, 2 for a usage error).
 */
import { Command, CommanderError } from 'commander';
import { OcitoolError, redact } from '../errors.js';
import { createContext, type CliContext } from './context.js';
import { commandModules } from './commands/index.js';
import { packageVersion } from './version.js';

/** The first argument that is not a global option or its value: the command's name. */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--store' || arg === '--wait') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

export async function buildProgram(argv: string[] = []): Promise<{ program: Command; ctx: CliContext }> {
  const program = new Command();
  program
    .name('ocitool')
    .description('Move container images between registries, OCI layouts, docker-save tarballs and a verified content-addressed store.')
    .option('--store <dir>', 'store folder (default: $OCITOOL_STORE, $XDG_DATA_HOME/ocitool or ~/.local/share/ocitool)')
    .option('--wait <seconds>', 'how long to wait for the store lock held by another process (default: 300)')
    .option('--debug', 'print the chain of causes of an error')
    .version(packageVersion(), '-V, --version', 'print the version of ocitool')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const name = commandName(argv.slice(2));
  const ctx = createContext(program, name);
  const loaders = name && commandModules[name] ? [commandModules[name]!] : [...new Set(Object.values(commandModules))];
  for (const mod of await Promise.all(loaders.map((load) => load()))) mod.register(program, ctx);
  for (const cmd of program.commands) cmd.exitOverride();
  return { program, ctx };
}

/** Commands whose stdout is data (a tar): output cut short is a failure, not the reader's choice. */
const DATA_ON_STDOUT = new Set(['save']);

export async function main(argv: string[]): Promise<void> {
  const writesData = DATA_ON_STDOUT.has(commandName(argv.slice(2)) ?? '');
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // `ocitool images | head` closes our stdout early: that is the reader's choice, not a failure.
    if (err.code === 'EPIPE' && !writesData) process.exit(process.exitCode ?? 0);
    // `save | head -c 100`: the tar was cut short. The command's own write sees the same error and
    // fails through the normal path (one line, exit 1, scratch removed); nothing to do here.
    if (err.code === 'EPIPE') return;
    throw err;
  });
  const { program, ctx } = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err, ctx, program.opts<{ debug?: boolean }>().debug ?? false);
  }
}

function reportError(err: unknown, ctx: CliContext, debug: boolean): number {
  if (err instanceof CommanderError) {
    // Help and version are not failures; commander already printed its usage message.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    return 2;
  }
  if (err instanceof OcitoolError) {
    ctx.note(`ocitool: ${redact(err.message)}`);
    if (debug) printCauses(err, ctx);
    return err.code === 'USAGE' ? 2 : 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.note(`ocitool: ${redact(message)}`);
  if (debug && err instanceof Error && err.stack) ctx.note(redact(err.stack));
  return 1;
}

function printCauses(err: Error, ctx: CliContext): void {
  let cause = err.cause;
  while (cause) {
    ctx.note(`  caused by: ${redact(cause instanceof Error ? cause.message : String(cause))}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
}
