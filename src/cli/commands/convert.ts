/** `ocitool convert`: a docker-save archive (or OCI layout tar) to an OCI layout folder or tar. */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { openArchiveSource } from '../../archive/docker-archive.js';
import { convertArchive } from '../../archive/convert.js';
import { LayoutTarSink } from '../../archive/layout-tar-sink.js';
import { LayoutFolderSink } from '../../layout/folder-sink.js';
import type { Compression } from '../../oci/media-types.js';
import type { CliContext } from '../context.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { readFirst, resultImages } from '../outcome.js';
import { checkStdinReadable, checkStdoutWritable, STDIO } from '../stdio.js';
import { checkOutputFile, checkOutputFolder, ioError } from '../../util/output.js';
import { removeStaleScratch, scratchPath } from '../../util/scratch.js';

interface Options {
  output: string;
  compress: string;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('convert')
    .description('convert a docker save archive to an OCI image layout folder, or a tar when OUT ends in .tar')
    .argument('<archive>', 'docker save tar (plain, gzip, xz or zstd), or - for stdin')
    .requiredOption('-o, --output <out>', 'layout folder, a .tar file, or - for a tar on stdout')
    .option('--compress <kind>', 'layer compression to write: gzip, zstd or none', 'gzip')
    .option('--json', 'print JSON lines only: progress events, then a result event (docs/events.md)')
    .option('-q, --quiet', 'print only the converted names and digests')
    .addHelpText('after', '\nExamples:\n  $ ocitool convert debian-save.tar -o debian-oci.tar --compress zstd\n  $ docker save debian | ocitool convert - -o - | gzip > debian-oci.tar.gz\n');
  addProgressOption(cmd).action(async (archive: string, opts: Options) => {
      if (!['gzip', 'zstd', 'none'].includes(opts.compress)) throw new OcitoolError('USAGE', `--compress ${opts.compress}: one of gzip, zstd, none`);
      const mode = progressMode(opts, ctx.stderr);
      const toStdout = opts.output === STDIO;
      if (toStdout) {
        checkStdoutWritable('a layout tar', ctx.stdout);
        if (mode === 'json') throw new OcitoolError('USAGE', '-o - writes the tar to stdout: --json (or --progress json) cannot share it');
      }
      if (archive === STDIO) checkStdinReadable('ARCHIVE (-)');
      const toTar = toStdout || opts.output.endsWith('.tar');
      // A bad output path fails before any work (and /proc or a device is never written).
      // With -o -, scratch (the spooled archive, re-compressed layers) lives in the temp folder.
      const out = toStdout ? path.join(tmpdir(), 'ocitool-convert-stdout.tar') : toTar ? await checkOutputFile(opts.output) : await checkOutputFolder(opts.output);
      if (!toTar) await mkdir(path.dirname(out), { recursive: true }).catch((err: unknown) => { throw ioError(path.dirname(out), err, 'cannot create the folder'); });
      // Scratch (the spooled archive, re-compressed layers) lives beside the output, so layers are
      // renamed into place, never copied; a killed run's scratch is removed by the next run.
      await removeStaleScratch(out);
      const scratch = scratchPath(out);
      await mkdir(scratch).catch((err: unknown) => { throw ioError(scratch, err, 'cannot create a scratch folder'); });
      try {
        const source = await openArchiveSource(archive === '-' ? { stream: process.stdin, label: 'stdin' } : { file: archive }, scratch);
        try {
          const sink = toTar
            ? new LayoutTarSink(toStdout ? { stream: ctx.stdout as NodeJS.WritableStream as Writable, label: 'stdout' } : { file: out }, { spoolParent: scratch, backing: source })
            : await LayoutFolderSink.create(out);
          const renderer = createRenderer(mode, ctx.stderr, ctx.stdout);
          const results = await convertArchive(source, sink, { compress: opts.compress as Compression, spoolParent: scratch, reporter: renderer.reporter });
          renderer.finish();
          const images = await resultImages(results, readFirst(sink.readSmallBlob?.bind(sink), (d) => source.readBlob(d)));
          // The tar is stdout's data with -o -: the names and digests go to stderr only.
          if (mode !== 'json' && !toStdout) for (const r of results) ctx.print(`${r.names.join(',') || '(untagged)'} ${r.descriptor.digest}`);
          renderer.result({ action: 'converted', images, destination: toStdout ? 'stdout' : opts.output });
        } finally {
          await source.close();
        }
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
}
