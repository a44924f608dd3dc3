/**
 * `ocitool rm`: removes tags; the content stays until `gc`. Each name removed is reported; a name
 * the store does not have is skipped and the others are still removed, then the command fails
 * with one line naming what was missing (as `docker rmi A B` does).
 */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { normalizeTagName } from '../../oci/reference.js';
import type { CliContext } from '../context.js';
import { isDigestLike } from './inspect.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('rm')
    .description('remove image names from the store (run gc to free the space)')
    .argument('<image...>', 'image names (an untagged image: its digest)')
    .addHelpText('after', '\nExample:\n  $ ocitool rm debian:bookworm && ocitool gc\n')
    .action(async (images: string[]) => {
      const store = await ctx.openStore();
      // Untagged images are kept under their digest (load of a refless archive).
      const names = images.map((image) => (isDigestLike(image) && image.includes(':') ? image : normalizeTagName(image)));
      const missing: string[] = [];
      for (const name of [...new Set(names)]) {
        try {
          await store.removeTags([name]);
          ctx.print(`removed ${name}`);
        } catch (err) {
          if (!(err instanceof OcitoolError && err.code === 'NOT_FOUND')) throw err;
          missing.push(name);
        }
      }
      if (missing.length) throw new OcitoolError('NOT_FOUND', `no image named ${missing.join(', ')} in the store${missing.length < names.length ? ' (the other names were removed)' : ''}`);
    });
}
