/** `ocitool save --oci`: images from the store to one OCI layout tar (docs/save-load.md). */
import type { Command } from 'commander';
import { saveImages } from '../../archive/save.js';
import { parseRefFlags } from '../../archive/refs.js';
import { formatPlatform, parsePlatformFlags } from '../../oci/platform.js';
import type { CliContext } from '../context.js';
import { collect } from '../flags.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { resultImages } from '../outcome.js';
import { checkStdoutWritable, STDIO } from '../stdio.js';
import { StagingArea } from '../../store/staging.js';
import { checkOutputFile } from '../../util/output.js';
import { removeStaleScratch } from '../../util/scratch.js';

interface Options {
  oci?: boolean;
  ref: string[];
  platform: string[];
  output?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('save')
    .description('save images from the store as one OCI image layout tar (with a Docker manifest.json)')
    .argument('<image...>', 'images in the store (an image without tag means :latest)')
    .option('--oci', 'write an OCI image layout (the only format; accepted for docker compatibility)')
    .option('--ref <image=ref>', 'ref to give IMAGE in the layout (repeatable); default: its tag', collect, [] as string[])
    .option('--platform <os/arch[/variant]>', 'save only this platform of each image (repeatable); an image without it is an error', collect, [] as string[])
    .option('-o, --output <file>', 'tar file to write; - or none: stdout (never a terminal)')
    .option('--json', 'print progress events and a result event as JSON lines (on stderr when the tar goes to stdout)')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText('after', '\nExamples:\n  $ ocitool save --oci ubuntu:15.10 ubuntu:16.04 > ubuntu-oci-multi.tar\n  $ ocitool save --oci --platform linux/arm64 debian alpine -o arm64.tar\n  $ ocitool save --oci --ref redis=redis-latest --ref alpine=alpine-latest redis alpine -o refs.tar\n');
  addProgressOption(cmd).action(async (images: string[], opts: Options) => {
      const refFlags = parseRefFlags(opts.ref);
      const platforms = parsePlatformFlags(opts.platform);
      if (opts.output === STDIO) delete opts.output;
      if (!opts.output) checkStdoutWritable('a tar', ctx.stdout);
      // A bad output path fails before any work; scratch files of killed saves to it are removed.
      const file = opts.output ? await checkOutputFile(opts.output) : undefined;
      if (file) await removeStaleScratch(file);
      const store = await ctx.openStore();
      // Held shared while reading, so gc cannot delete what is being saved; spool in this
      // operation's own staging folder, which gc leaves alone while this process lives.
      const lock = await store.lockShared('read');
      let staging: StagingArea | undefined;
      let results;
      let renderer;
      try {
        staging = await StagingArea.create(store.paths);
        renderer = createRenderer(progressMode(opts, ctx.stderr), ctx.stderr, opts.output ? ctx.stdout : ctx.stderr);
        const output = file ? { file } : { stream: ctx.stdout as NodeJS.WritableStream as import('node:stream').Writable, label: 'stdout' };
        results = await saveImages(store, store.asSource(), images, { refFlags, platforms, output, spoolParent: staging.dir, reporter: renderer.reporter });
        renderer.finish();
      } finally {
        await staging?.remove();
        await lock.release();
      }
      for (const result of results) {
        if (result.leftOut.length > 0 && !opts.quiet) {
          const what = platforms.length ? 'the platforms asked for that are in the store' : 'the platforms in the store';
          ctx.note(`${result.names.join(', ')}: saved ${what}; left out ${result.leftOut.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(', ')}`);
        }
      }
      // Platforms from the store's documents; an index rewritten for --platform is read from the store's children.
      const read = async (d: { digest: string }) => ((await store.hasBlob(d.digest as never)) ? store.readBlob(d.digest as never) : undefined);
      const saved = await resultImages(results, read);
      for (const image of saved) {
        if (image.platforms?.length === 0 && platforms.length) image.platforms = platforms.map(formatPlatform);
      }
      renderer.result({ action: 'saved', images: saved, destination: opts.output ?? 'stdout' });
    });
}
