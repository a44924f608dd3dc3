/** `ocitool fsck`: re-hashes everything and exits 1 naming each corrupt or missing thing; `--repair` removes what is corrupt. */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { fsck } from '../../store/fsck.js';
import type { CliContext } from '../context.js';
import { printJson } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('fsck')
    .description('check every object, blob, split layer and tag in the store')
    .option('--repair', 'remove corrupt objects and the links naming them (the next pull or import fetches them again)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ ocitool fsck --json\n  $ ocitool fsck --repair && ocitool pull debian:bookworm\n')
    .action(async (opts: { json?: boolean; repair?: boolean }) => {
      const store = await ctx.openStore();
      const result = await fsck(store, { repair: !!opts.repair });
      if (opts.json) printJson(ctx, { ok: result.problems.length === 0, ...result });
      else {
        for (const p of result.problems) ctx.print(`${p.kind}: ${p.message}`);
        for (const r of result.removed) ctx.print(`removed ${r.path}: ${r.reason}`);
        const removed = opts.repair ? `, ${result.removed.length} removed` : '';
        ctx.print(`checked ${result.objects} objects, ${result.blobs} blobs, ${result.layers} layers, ${result.tags} tags: ${result.problems.length} problems${removed}`);
      }
      if (result.problems.length) {
        const hint = result.removed.length ? '; pull or import the affected images again' : opts.repair ? '' : ' (ocitool fsck --repair removes what is corrupt)';
        throw new OcitoolError('STORE_CORRUPT', `store ${store.root}: ${result.problems.length} problems found${hint}`);
      }
    });
}
