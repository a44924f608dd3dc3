/** `ocitool fsck`: re-hashes everything and exits 1 naming each corrupt or missing thing. */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { fsck } from '../../store/fsck.js';
import type { CliContext } from '../context.js';
import { printJson } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('fsck')
    .description('check every object, blob, split layer and tag in the store')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  $ ocitool fsck --json\n')
    .action(async (opts: { json?: boolean }) => {
      const store = await ctx.openStore();
      const result = await fsck(store);
      if (opts.json) printJson(ctx, { ok: result.problems.length === 0, ...result });
      else {
        for (const p of result.problems) ctx.print(`${p.kind}: ${p.message}`);
        ctx.print(`checked ${result.objects} objects, ${result.blobs} blobs, ${result.layers} layers, ${result.tags} tags: ${result.problems.length} problems`);
      }
      if (result.problems.length) throw new OcitoolError('STORE_CORRUPT', `store ${store.root}: ${result.problems.length} problems found`);
    });
}
