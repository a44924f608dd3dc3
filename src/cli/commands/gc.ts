/** `ocitool gc`: removes every object no tag reaches; refuses (removing nothing) when a tag cannot be read. */
import type { Command } from 'commander';
import { gc } from '../../store/gc.js';
import type { CliContext } from '../context.js';
import { printJson } from '../context.js';
import { formatBytes } from '../progress.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('gc')
    .description('remove every object that no tag reaches, and leftovers of interrupted operations')
    .option('--dry-run', 'only count what would be removed')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  $ ocitool gc --dry-run\n')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const store = await ctx.openStore();
      const result = await gc(store, { dryRun: opts.dryRun });
      if (opts.json) printJson(ctx, { ...result, freedBytes: result.removedBytes + result.removedStagingBytes });
      else {
        const lockFiles = result.removedLeftoverFiles ? `, ${result.removedLeftoverFiles} stale lock or temp files` : '';
        // The total counts staging leftovers too: they are disk the store gives back.
        const total = result.removedBytes + result.removedStagingBytes;
        ctx.print(`${opts.dryRun ? 'would remove' : 'removed'} ${result.removedObjects} objects (${formatBytes(result.removedBytes)}), ${result.removedLinks} links, ${result.removedStaging} leftover staging folders (${formatBytes(result.removedStagingBytes)})${lockFiles}; ${opts.dryRun ? 'would free' : 'freed'} ${formatBytes(total)}`);
      }
    });
}
