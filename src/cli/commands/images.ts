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
    .option('-q, --quiet', 'print only the digests, each once')
    .option('--format <template>', 'print each image with a Go-template-like TEMPLATE: {{.Name}} {{.Digest}} {{.MediaType}} {{.Platforms}} {{.Size}} {{.Partial}}, {{json .}}')
    .addHelpText('after', '\nExamples:\n  $ ocitool images --json\n  $ ocitool images -q\n  $ ocitool images --format \'{{.Name}}\\t{{.Digest}}\'\n')
    .action(async (opts: { json?: boolean; quiet?: boolean; format?: string }) => {
      if ([opts.json, opts.quiet, opts.format !== undefined].filter(Boolean).length > 1) throw new (await import('../../errors.js')).OcitoolError('USAGE', '--json, -q and --format exclude each other');
      const render = opts.format !== undefined ? await compileFormat(opts.format) : undefined;
      // No store, or a store with no tag files: no images, answered from a readdir without loading
      // the store and schema modules (zod is most of ocitool's start-up) and without creating a
      // store. Anything else (a folder that is not a store included) goes through the store.
      const paths = new StorePaths(ctx.storeDir());
      const empty = !(await exists(paths.root)) || ((await exists(paths.meta)) && (await listNames(paths.tags)).length === 0);
      const { rows, failures } = empty ? { rows: [], failures: [] } : await describeAll(ctx);
      if (opts.json) printJson(ctx, rows);
      else if (opts.quiet) for (const digest of new Set(rows.map((r) => r.digest))) ctx.print(digest);
      else if (render) for (const row of rows) ctx.print(render(row));
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

const FIELDS: Record<string, string> = { name: 'name', digest: 'digest', mediatype: 'mediaType', platforms: 'platforms', platform: 'platforms', size: 'size', partial: 'partial' };

/**
 * A Go-template-like format, as `docker images --format` takes: `{{.Field}}` (the fields of
 * --json, any case), `{{json .}}` / `{{json .Field}}`, and \t \n escapes. Anything else in
 * braces is refused with the list of fields, before the store is read.
 */
async function compileFormat(template: string): Promise<(row: Record<string, unknown>) => string> {
  const { OcitoolError } = await import('../../errors.js');
  const parts: Array<string | ((row: Record<string, unknown>) => string)> = [];
  const text = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  let last = 0;
  for (const m of text.matchAll(/\{\{\s*(json\s+)?\.([A-Za-z]*)\s*\}\}/g)) {
    parts.push(text.slice(last, m.index));
    last = m.index! + m[0].length;
    const json = m[1] !== undefined;
    if (m[2] === '') {
      if (!json) throw new OcitoolError('USAGE', `--format: {{.}} needs json: {{json .}}`);
      parts.push((row) => JSON.stringify(row));
      continue;
    }
    const key = FIELDS[m[2]!.toLowerCase()];
    if (!key) throw new OcitoolError('USAGE', `--format: unknown field .${m[2]}; the fields are .Name, .Digest, .MediaType, .Platforms, .Size, .Partial`);
    parts.push((row) => {
      const value = row[key];
      if (json) return JSON.stringify(value ?? null);
      if (Array.isArray(value)) return value.join(',');
      return value === undefined ? '' : String(value);
    });
  }
  const rest = text.slice(last);
  if (/\{\{|\}\}/.test(rest) || parts.some((p) => typeof p === 'string' && /\{\{/.test(p))) throw new OcitoolError('USAGE', `--format ${JSON.stringify(template)}: only {{.Field}} and {{json .}} are understood`);
  parts.push(rest);
  return (row) => parts.map((p) => (typeof p === 'string' ? p : p(row))).join('');
}
