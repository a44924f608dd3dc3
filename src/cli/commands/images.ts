/** `ocitool images`: the tagged images in the store with digest, platforms and size. */
import type { Command } from 'commander';
import { isIndexType } from '../../oci/media-types.js';
import { formatPlatform } from '../../oci/platform.js';
import { describeImage } from '../../store/describe.js';
import type { CliContext } from '../context.js';
import { printJson } from '../context.js';
import { formatBytes } from '../progress.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('images')
    .description('list the images in the store')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExample:\n  $ ocitool images --json\n')
    .action(async (opts: { json?: boolean }) => {
      const store = await ctx.openStore();
      const rows = [];
      for (const tag of await store.listTags()) {
        const info = await describeImage(store, tag);
        rows.push({ name: tag.name, digest: tag.descriptor.digest, mediaType: tag.descriptor.mediaType, platforms: info.platforms.map(formatPlatform), size: info.size, ...(isIndexType(tag.descriptor.mediaType) ? { partial: info.partial } : {}) });
      }
      if (opts.json) {
        printJson(ctx, rows);
        return;
      }
      const table = [['NAME', 'DIGEST', 'PLATFORM', 'SIZE'], ...rows.map((r) => [r.name, r.digest, r.platforms.join(',') || '-', formatBytes(r.size)])];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) ctx.print(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
    });
}
