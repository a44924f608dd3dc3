/** `ocitool import-oci`: an OCI image layout (folder or tar) into the store, digests unchanged. */
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { OcitoolError, withContext } from '../../errors.js';
import { isEnoent } from '../../util/fs.js';
import { copyImages } from '../../copy/engine.js';
import { openLayout } from '../../layout/source.js';
import { selectManifest } from '../../layout/select.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME } from '../../oci/annotations.js';
import { IndexSchema, parseJson, DescriptorSchema, MAX_JSON_BYTES, type Descriptor } from '../../oci/schemas.js';
import { formatPlatform, parsePlatform, platformFromArch, type Platform } from '../../oci/platform.js';
import { normalizeTagName } from '../../oci/reference.js';
import type { CliContext } from '../context.js';
import { createRenderer, progressMode } from '../progress.js';
import { checkStoreNames } from '../store-names.js';

interface Options {
  file: string;
  arch?: string;
  platform?: string;
  tag: string[];
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('import-oci')
    .description('import an image from an OCI image layout (folder or tar) into the store, keeping its digests')
    .argument('<path>', 'layout folder, or a tar of one (plain, gzip, xz or zstd)')
    .option('--file <name>', 'index.json, or a JSON file holding one descriptor (bashbrew File:)', 'index.json')
    .option('--arch <arch>', 'bashbrew architecture to pick from a multi-platform layout (amd64, arm32v5, arm64v8, ...)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform layout')
    .option('--tag <name>', 'name to give the image in the store (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--json', 'print progress events and the result as JSON lines')
    .option('-q, --quiet', 'print only the manifest digest')
    .addHelpText('after', '\nExample:\n  $ ocitool import-oci ./bullseye/oci --arch arm32v5 --tag debian:bullseye\n')
    .action(async (layoutPath: string, opts: Options) => {
      if (opts.arch && opts.platform) throw new OcitoolError('USAGE', '--arch and --platform cannot be used together');
      const wanted: Platform | undefined = opts.arch ? platformFromArch(opts.arch) : opts.platform ? parsePlatform(opts.platform) : undefined;
      const explicitNames = opts.tag.map(normalizeTagName);
      // A path that is not there fails before the store is opened (or created).
      await stat(layoutPath).catch((err: unknown) => {
        throw isEnoent(err) ? new OcitoolError('NOT_FOUND', `${layoutPath}: no such file or folder`, { cause: err }) : withContext(layoutPath, err);
      });
      const store = await ctx.openStore();
      checkStoreNames(store, explicitNames);
      // The sink first: it holds the store lock shared, and a compressed layout tar is spooled in
      // its staging folder (removed on failure, left alone by gc while this process lives).
      const sink = await store.createSink();
      try {
        const layout = await openLayout(layoutPath, { spoolParent: sink.scratchDir });
        try {
          const entries = await readEntries(layout.tree.readFile.bind(layout.tree), opts.file, layout.tree.description);
          const chosen = await selectManifest(layout, entries, wanted);
          const names = explicitNames.length ? explicitNames : namesFromAnnotations(chosen.entry, layoutPath);
          checkStoreNames(store, names);
          const renderer = createRenderer(progressMode(opts, ctx.stderr), ctx.stderr, ctx.stdout);
          const [result] = await copyImages(layout, sink, [{ descriptor: chosen.descriptor, names }], { reporter: renderer.reporter });
          renderer.finish();
          if (opts.json) ctx.print(JSON.stringify({ type: 'result', digest: result!.descriptor.digest, names, platform: formatPlatform(chosen.platform) }));
          else {
            if (!opts.quiet) for (const name of names) ctx.note(`tagged ${name}`);
            ctx.print(result!.descriptor.digest);
          }
        } finally {
          await layout.close();
        }
      } catch (err) {
        await sink.abort(); // a no-op when the engine already aborted or committed
        throw err;
      }
    });
}

/** index.json's entries, or the one descriptor a bashbrew `File:` names. */
async function readEntries(readFile: (rel: string, max: number) => Promise<Buffer>, file: string, where: string): Promise<Descriptor[]> {
  const raw = await readFile(file, MAX_JSON_BYTES);
  const probe = (() => {
    try {
      return JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      // Not JSON: parseJson below reports it, naming the file.
      return undefined;
    }
  })();
  if (probe && typeof probe === 'object' && 'manifests' in probe) return parseJson(raw, IndexSchema, `${where}: ${file}`).manifests;
  return [parseJson(raw, DescriptorSchema, `${where}: ${file}`)];
}

/** Names from the layout's annotations: containerd's full name, or a ref name that is a full reference. */
function namesFromAnnotations(entry: Descriptor, layoutPath: string): string[] {
  const full = entry.annotations?.[ANNOTATION_IMAGE_NAME];
  if (full) return [normalizeTagName(full)];
  const ref = entry.annotations?.[ANNOTATION_REF_NAME];
  if (ref && /[:/]/.test(ref)) return [normalizeTagName(ref)];
  throw new OcitoolError('USAGE', `${layoutPath}: ${ref ? `the layout names the image only "${ref}"` : 'the layout gives the image no name'}; name it with --tag NAME (e.g. --tag debian:${ref ?? 'latest'})`);
}
