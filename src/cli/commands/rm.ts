/** `ocitool rm`: removes tags; the content stays until `gc`. */
import type { Command } from 'commander';
import { normalizeTagName } from '../../oci/reference.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('rm')
    .description('remove image names from the store (run gc to free the space)')
    .argument('<image...>', 'image names')
    .addHelpText('after', '\nExample:\n  $ ocitool rm debian:bookworm && ocitool gc\n')
    .action(async (images: string[]) => {
      const store = await ctx.openStore();
      const names = images.map(normalizeTagName);
      await store.removeTags(names);
      for (const name of names) ctx.print(`removed ${name}`);
    });
}
