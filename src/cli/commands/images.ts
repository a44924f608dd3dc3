/**
 * `ocitool images`: the tagged images in the store with digest, platforms and size. A tag that
 * cannot be read, or whose image cannot be described, is named on stderr and the rest are still
 * listed; the exit status is then 1.
 */
import type { Command } from 'commander';
import { StorePaths } from '../../store/paths.js';
import { exists, listNames } from '../../util/fs.js';
import type { CliContext } from '../context.js';
import { printJson } from '../context.js';

const HEADER = ['NAME', 'DIGEST', 'PLATFORM', 'SIZE'];

export function register(program: Command, ctx: CliContext): void {
  program
    .command('images')
    .description('list the images in the store')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExample:\n  $ ocitool images --json\n')
    .action(async (opts: { json?: boolean }) => {
      // No store, or a store with no tag files: no images, answered from a readdir without loading
      // the store and schema modules (zod is most of ocitool's start-up) and without creating a
      // store. Anything else (a folder that is not a store included) goes through the store.
      const paths = new StorePaths(ctx.storeDir());
      const empty = !(await exists(paths.root)) || ((await exists(paths.meta)) && (await listNames(paths.tags)).length === 0);
      const { rows, failures } = empty ? { rows: [], failures: [] } : await describeAll(ctx);
      if (opts.json) printJson(ctx, rows);
      else {
        const table = [HEADER, ...rows.map((r) => [r.name, r.digest, r.platforms.join(',') || '-', r.sizeText])];
        const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
        for (const row of table) ctx.print(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
      }
      for (const f of failures) ctx.note(`ocitool: ${f}`);
      if (failures.length) {
        const { OcitoolError } = await import('../../errors.js');
        throw new OcitoolError('STORE_CORRUPT', `${failures.length} image${failures.length > 1 ? 's' : ''} could not be listed (run ocitool fsck)`);
      }
    });
}

async function describeAll(ctx: CliContext) {
  const [{ isIndexType }, { formatPlatform }, { describeImage }, { formatBytes }] = await Promise.all([
    import('../../oci/media-types.js'),
    import('../../oci/platform.js'),
    import('../../store/describe.js'),
    import('../progress.js'),
  ]);
  const store = await ctx.openStore();
  const lock = await store.lockShared('read');
  const rows = [];
  const failures: string[] = [];
  try {
    const { tags, bad } = await store.readAllTags();
    for (const b of bad) failures.push(`tag ${b.name} (${b.file}) cannot be read: ${b.message}`);
    for (const tag of tags) {
      try {
        const info = await describeImage(store, tag);
        const row = { name: tag.name, digest: tag.descriptor.digest, mediaType: tag.descriptor.mediaType, platforms: info.platforms.map(formatPlatform), size: info.size, ...(isIndexType(tag.descriptor.mediaType) ? { partial: info.partial } : {}) };
        // sizeText is for the table only: not enumerable, so --json prints what it printed before.
        rows.push(Object.defineProperty(row, 'sizeText', { value: formatBytes(info.size), enumerable: false }) as typeof row & { sizeText: string });
      } catch (err) {
        failures.push(`image ${tag.name}: ${(err as Error).message}`);
      }
    }
  } finally {
    await lock.release();
  }
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { rows, failures };
}
