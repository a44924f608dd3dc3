/** `ocitool load`: an OCI layout tar or folder, or a docker-save archive, into the store (docs/save-load.md). */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { OcitoolError, withContext } from '../../errors.js';
import { isEnoent } from '../../util/fs.js';
import { copyImages } from '../../copy/engine.js';
import { openArchiveSource, type ArchiveImage } from '../../archive/docker-archive.js';
import { assignLoadNames, refsOf } from '../../archive/load-names.js';
import { parseRefFlags } from '../../archive/refs.js';
import type { CliContext } from '../context.js';
import { collect } from '../flags.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { readFirst, resultImages } from '../outcome.js';
import { checkStdinReadable, STDIO } from '../stdio.js';
import { splitLayoutRef } from '../layout-refs.js';
import { checkStoreNames } from '../store-names.js';
import { openLayoutFolderImages, type ImagesSource } from '../../archive/layout-folder-images.js';

interface Options {
  oci?: boolean;
  name?: string;
  ref: string[];
  input?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

/** The images with the refs named by --ref REF, in archive order; a ref not there is an error listing the refs. */
function selectImages(images: ArchiveImage[], selectors: string[], label: string): ArchiveImage[] {
  const all = [...new Set(images.flatMap(refsOf))];
  for (const ref of selectors) {
    if (!all.includes(ref)) throw new OcitoolError('NOT_FOUND', `${label}: no image with ref ${JSON.stringify(ref)}; it has: ${all.map((r) => JSON.stringify(r)).join(', ') || 'no refs'}`);
  }
  return images.filter((image) => refsOf(image).some((r) => selectors.includes(r)));
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('load')
    .description('load images from an OCI layout tar or folder, or a docker-save archive, into the store')
    .option('--oci', 'the input is an OCI image layout (accepted for docker compatibility; the format is detected)')
    .option('--name <name>', 'make every ref in the layout a tag of NAME (ref 16.04 becomes NAME:16.04)')
    .option('--ref <[image=]ref>', 'load the layout ref REF as IMAGE, or (REF alone) select the image with ref REF (repeatable; only the refs named are loaded)', collect, [] as string[])
    .option('-i, --input <file>', 'tar (plain, gzip, xz or zstd) or layout folder; - or none: stdin')
    .option('--json', 'print JSON lines only: progress events, then a result event (docs/events.md)')
    .option('-q, --quiet', 'print only the loaded names and digests')
    .addHelpText('after', '\nExamples:\n  $ ocitool load --oci --name ubuntu < ubuntu-oci.tar\n  $ ocitool load --oci --ref redis=redis-latest --ref alpine=alpine-latest -i refs-oci.tar\n  $ ocitool load -i docker-save.tar.gz\n');
  addProgressOption(cmd).action(async (opts: Options) => {
      // --ref IMAGE=REF maps a ref to a name; --ref REF (no '=') only selects, as skopeo's DIR:REF.
      const selectors = opts.ref.filter((r) => !r.includes('='));
      const refs = parseRefFlags(opts.ref.filter((r) => r.includes('=')));
      if (opts.input === STDIO) delete opts.input;
      if (!opts.input) checkStdinReadable('an archive (no -i FILE given)');
      else {
        // -i PATH:REF selects by ref, as --ref REF does (a path that exists is taken whole).
        const split = await splitLayoutRef(opts.input);
        opts.input = split.path;
        if (split.ref !== undefined) selectors.push(split.ref);
      }
      // Only a missing path is "not a folder" here (the archive reader then names it); any other
      // error looking at it is reported now.
      const isFolder =
        opts.input !== undefined &&
        (await stat(opts.input).catch((err: unknown) => {
          if (isEnoent(err)) return undefined;
          throw withContext(opts.input!, err);
        }))?.isDirectory();
      const store = await ctx.openStore();
      // The sink first: it takes the store lock shared and makes this operation's staging folder,
      // where a compressed or piped archive is spooled, so gc can neither run in between nor
      // delete the spool of a slow stdin; a failure removes the folder and everything in it.
      const sink = await store.createSink();
      let source: ImagesSource | undefined;
      try {
        source = isFolder
          ? await openLayoutFolderImages(opts.input!)
          : await openArchiveSource(opts.input ? { file: opts.input } : { stream: process.stdin, label: 'stdin' }, sink.scratchDir);
        const label = opts.input ?? 'stdin';
        const selected = selectors.length ? selectImages(source.images, selectors, label) : source.images;
        const names = assignLoadNames(selected, { name: opts.name, refs }, label);
        checkStoreNames(store, names.flat());
        // An untagged image (a refless `docker save IMAGE-ID`) is kept under its digest, as docker
        // keeps it by image ID: a store name that gc respects, shown by `images`, removed by `rm DIGEST`.
        const roots = selected.map((image, i) => ({ descriptor: image.descriptor, names: names[i]! }))
          .filter((root) => root.names.length > 0 || (refs.size === 0 && opts.name === undefined))
          .map((root) => (root.names.length > 0 ? root : { ...root, names: [root.descriptor.digest] }));
        const mode = progressMode(opts, ctx.stderr);
        const renderer = createRenderer(mode, ctx.stderr, ctx.stdout);
        const results = await copyImages(source, sink, roots, { reporter: renderer.reporter });
        renderer.finish();
        const untagged = (names: string[], digest: string) => (names.length === 1 && names[0] === digest ? [] : names);
        const images = (await resultImages(results, readFirst((d) => sink.readSmallBlob(d)))).map((i) => ({ ...i, names: untagged(i.names, i.digest) }));
        if (mode !== 'json') {
          for (const result of results) {
            if (untagged(result.names, result.descriptor.digest).length === 0) ctx.print(`(untagged) ${result.descriptor.digest}`);
            else for (const name of result.names) ctx.print(`${name} ${result.descriptor.digest}`);
          }
        }
        renderer.result({ action: 'loaded', images });
      } catch (err) {
        await sink.abort(); // a no-op when the engine already aborted or committed
        throw err;
      } finally {
        await source?.close();
      }
    });
}
