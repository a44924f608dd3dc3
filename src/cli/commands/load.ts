/** `ocitool load`: an OCI layout tar or folder, or a docker-save archive, into the store (docs/save-load.md). */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { copyImages } from '../../copy/engine.js';
import { openArchiveSource } from '../../archive/docker-archive.js';
import { assignLoadNames } from '../../archive/load-names.js';
import { parseRefFlags } from '../../archive/refs.js';
import type { CliContext } from '../context.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { readFirst, resultImages } from '../outcome.js';
import { checkStdinReadable, STDIO } from '../stdio.js';
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

const collect = (v: string, acc: string[]) => [...acc, v];

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('load')
    .description('load images from an OCI layout tar or folder, or a docker-save archive, into the store')
    .option('--oci', 'the input is an OCI image layout (accepted for docker compatibility; the format is detected)')
    .option('--name <name>', 'make every ref in the layout a tag of NAME (ref 16.04 becomes NAME:16.04)')
    .option('--ref <image=ref>', 'load the layout ref REF as IMAGE (repeatable; only the refs named are loaded)', collect, [] as string[])
    .option('-i, --input <file>', 'tar (plain, gzip, xz or zstd) or layout folder; - or none: stdin')
    .option('--json', 'print JSON lines only: progress events, then a result event (docs/events.md)')
    .option('-q, --quiet', 'print only the loaded names and digests')
    .addHelpText('after', '\nExamples:\n  $ ocitool load --oci --name ubuntu < ubuntu-oci.tar\n  $ ocitool load --oci --ref redis=redis-latest --ref alpine=alpine-latest -i refs-oci.tar\n  $ ocitool load -i docker-save.tar.gz\n');
  addProgressOption(cmd).action(async (opts: Options) => {
      const refs = parseRefFlags(opts.ref);
      if (opts.input === STDIO) delete opts.input;
      if (!opts.input) checkStdinReadable('an archive (no -i FILE given)');
      // A path that cannot be looked at is not a folder: the archive reader reports it by name.
      const isFolder = opts.input !== undefined && (await stat(opts.input).catch(() => undefined))?.isDirectory();
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
        const names = assignLoadNames(source.images, { name: opts.name, refs }, label);
        checkStoreNames(store, names.flat());
        const roots = source.images.map((image, i) => ({ descriptor: image.descriptor, names: names[i]! }))
          .filter((root) => root.names.length > 0 || (refs.size === 0 && opts.name === undefined));
        const mode = progressMode(opts, ctx.stderr);
        const renderer = createRenderer(mode, ctx.stderr, ctx.stdout);
        const results = await copyImages(source, sink, roots, { reporter: renderer.reporter });
        renderer.finish();
        const images = await resultImages(results, readFirst((d) => sink.readSmallBlob(d)));
        if (mode !== 'json') {
          for (const result of results) {
            if (result.names.length === 0) ctx.print(`(untagged) ${result.descriptor.digest}`);
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
