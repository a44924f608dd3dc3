/** `ocitool import-oci`: an OCI image layout (folder or tar) into the store, digests unchanged. */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { copyImages } from '../../copy/engine.js';
import { openLayout, type LayoutSource } from '../../layout/source.js';
import { listManifests, selectManifest } from '../../layout/select.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME } from '../../oci/annotations.js';
import { IndexSchema, parseJson, DescriptorSchema, MAX_JSON_BYTES, type Descriptor } from '../../oci/schemas.js';
import { formatPlatform, parsePlatformList, platformFromArch, platformMatches, type Platform } from '../../oci/platform.js';
import { normalizeTagName } from '../../oci/reference.js';
import type { CliContext } from '../context.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { readFirst, resultImages } from '../outcome.js';
import { checkStdinReadable, STDIO } from '../stdio.js';
import { splitLayoutRef } from '../layout-refs.js';
import { checkStoreNames } from '../store-names.js';

interface Options {
  file: string;
  arch?: string;
  platform?: string;
  tag: string[];
  ref?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('import-oci')
    .description('import an image from an OCI image layout (folder or tar) into the store, keeping its digests')
    .argument('<path>', 'layout folder, or a tar of one (plain, gzip, xz or zstd), - for stdin; PATH:REF picks the image with that ref')
    .option('--file <name>', 'index.json, or a JSON file holding one descriptor (bashbrew File:)', 'index.json')
    .option('--arch <arch>', 'bashbrew architecture to pick from a multi-platform layout (amd64, arm32v5, arm64v8, ...)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform layout (aliases such as arm64 or x86_64 work)')
    .option('--ref <ref>', 'pick the image the layout names REF (org.opencontainers.image.ref.name), as PATH:REF does')
    .option('--force', 'import a single-platform image even when --platform or --arch names another platform')
    .option('--tag <name>', 'name to give the image in the store (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--json', 'print JSON lines only: progress events, then a result event (docs/events.md)')
    .option('-q, --quiet', 'print only the manifest digest')
    .addHelpText('after', '\nExamples:\n  $ ocitool import-oci ./bullseye/oci --arch arm32v5 --tag debian:bullseye\n  $ ocitool import-oci ./layout:v1 --tag app:v1\n  $ ocitool import-oci - --tag app:v1 < app-oci.tar\n');
  addProgressOption(cmd).action(async (argument: string, opts: Options) => {
      if (opts.arch && opts.platform) throw new OcitoolError('USAGE', '--arch and --platform cannot be used together');
      const wanted: Platform | undefined = opts.arch ? platformFromArch(opts.arch) : opts.platform ? parseOnePlatform(opts.platform) : undefined;
      const explicitNames = opts.tag.map(normalizeTagName);
      const fromStdin = argument === STDIO;
      if (fromStdin) checkStdinReadable('a layout tar (-)');
      // A path that is not there fails before the store is opened (or created).
      const { path: layoutPath, ref: pathRef } = fromStdin ? { path: STDIO, ref: undefined } : await splitLayoutRef(argument);
      if (pathRef !== undefined && opts.ref !== undefined && pathRef !== opts.ref) throw new OcitoolError('USAGE', `${argument} and --ref ${opts.ref} name different refs`);
      const wantedRef = opts.ref ?? pathRef;
      const store = await ctx.openStore();
      checkStoreNames(store, explicitNames);
      // The sink first: it holds the store lock shared, and a compressed layout tar is spooled in
      // its staging folder (removed on failure, left alone by gc while this process lives).
      const sink = await store.createSink();
      try {
        const layout = fromStdin ? await openLayout(process.stdin, { spoolParent: sink.scratchDir, description: 'stdin' }) : await openLayout(layoutPath, { spoolParent: sink.scratchDir });
        try {
          const all = await readEntries(layout.tree.readFile.bind(layout.tree), opts.file, layout.tree.description);
          const entries = wantedRef === undefined ? all : selectByRef(all, wantedRef, layout.tree.description);
          const chosen = await selectManifest(layout, entries, await checkUnambiguous(layout, entries, wanted, opts.force === true));
          const names = explicitNames.length ? explicitNames : namesFromAnnotations(chosen.entry, argument);
          checkStoreNames(store, names);
          const mode = progressMode(opts, ctx.stderr);
          const renderer = createRenderer(mode, ctx.stderr, ctx.stdout);
          const [result] = await copyImages(layout, sink, [{ descriptor: chosen.descriptor, names }], { reporter: renderer.reporter });
          renderer.finish();
          const images = await resultImages([result!], readFirst((d) => sink.readSmallBlob(d)));
          if (mode !== 'json') ctx.print(result!.descriptor.digest);
          renderer.result({ action: 'imported', images });
        } finally {
          await layout.close();
        }
      } catch (err) {
        await sink.abort(); // a no-op when the engine already aborted or committed
        throw err;
      }
    });
}

/** A platform flag naming one platform (aliases accepted); a list picks nothing here. */
function parseOnePlatform(text: string): Platform {
  const list = parsePlatformList(text);
  if (list.length !== 1) throw new OcitoolError('USAGE', `--platform ${text}: import-oci takes one image; name one platform`);
  return list[0]!;
}

function refOf(entry: Descriptor): string | undefined {
  return entry.annotations?.[ANNOTATION_REF_NAME];
}

function quoteRefs(entries: Descriptor[]): string {
  const refs = [...new Set(entries.map(refOf).filter((r): r is string => r !== undefined))];
  return refs.length ? refs.map((r) => JSON.stringify(r)).join(', ') : 'no refs';
}

/** The index.json entries named REF (org.opencontainers.image.ref.name). */
function selectByRef(entries: Descriptor[], ref: string, where: string): Descriptor[] {
  const chosen = entries.filter((e) => refOf(e) === ref);
  if (chosen.length === 0) throw new OcitoolError('NOT_FOUND', `${where}: no image with ref ${JSON.stringify(ref)}; the layout has ${quoteRefs(entries)}`);
  return chosen;
}

/**
 * Several manifests left to choose from: the error lists the refs to pick by. A single-platform
 * image that does not match --platform is refused unless --force (then it is imported as it is).
 */
async function checkUnambiguous(layout: LayoutSource, entries: Descriptor[], wanted: Platform | undefined, force: boolean): Promise<Platform | undefined> {
  const all = await listManifests(layout, entries);
  const matching = wanted ? all.filter((c) => c.platform && platformMatches(c.platform, wanted)) : all;
  // Several refs among them: they are the way to choose. One ref (an index of platforms): the
  // library's message, which lists the platforms to choose by.
  const refs = new Set(matching.map((c) => refOf(c.entry)).filter((r) => r !== undefined));
  if (matching.length > 1 && refs.size > 1) {
    const list = matching.map((c) => `${refOf(c.entry) !== undefined ? `ref ${JSON.stringify(refOf(c.entry))}` : 'no ref'} ${formatPlatform(c.platform)} (${c.descriptor.digest})`).join(', ');
    throw new OcitoolError('PLATFORM', `${layout.tree.description}: ${matching.length} manifests${wanted ? ` for ${formatPlatform(wanted)}` : ''}; choose one with PATH:REF or --ref REF (refs: ${quoteRefs(matching.map((c) => c.entry))}), --arch or --platform: ${list}`);
  }
  // --force: the only image is taken whatever its platform says.
  return matching.length === 0 && all.length === 1 && force ? undefined : wanted;
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
