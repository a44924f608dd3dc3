/** `ocitool convert`: a docker-save archive (or OCI layout tar) to an OCI layout folder or tar. */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { openArchiveSource } from '../../archive/docker-archive.js';
import { convertArchive } from '../../archive/convert.js';
import { LayoutTarSink } from '../../archive/layout-tar-sink.js';
import { LayoutFolderSink } from '../../layout/folder-sink.js';
import type { Compression } from '../../oci/media-types.js';
import type { CliContext } from '../context.js';
import { createRenderer, progressMode } from '../progress.js';
import { checkOutputFile, checkOutputFolder, ioError } from '../../util/output.js';
import { removeStaleScratch, scratchPath } from '../../util/scratch.js';

interface Options {
  output: string;
  compress: string;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('convert')
    .description('convert a docker save archive to an OCI image layout folder, or a tar when OUT ends in .tar')
    .argument('<archive>', 'docker save tar (plain, gzip, xz or zstd), or - for stdin')
    .requiredOption('-o, --output <out>', 'layout folder, or a .tar file')
    .option('--compress <kind>', 'layer compression to write: gzip, zstd or none', 'gzip')
    .option('--json', 'print progress events as JSON lines')
    .option('-q, --quiet', 'print only the converted names and digests')
    .addHelpText('after', '\nExample:\n  $ ocitool convert debian-save.tar -o debian-oci.tar --compress zstd\n')
    .action(async (archive: string, opts: Options) => {
      if (!['gzip', 'zstd', 'none'].includes(opts.compress)) throw new OcitoolError('USAGE', `--compress ${opts.compress}: one of gzip, zstd, none`);
      const toTar = opts.output.endsWith('.tar');
      // A bad output path fails before any work (and /proc or a device is never written).
      const out = toTar ? await checkOutputFile(opts.output) : await checkOutputFolder(opts.output);
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
            ? new LayoutTarSink({ file: out }, { spoolParent: scratch, backing: source })
            : await LayoutFolderSink.create(out);
          const renderer = createRenderer(progressMode(opts, ctx.stderr), ctx.stderr, ctx.stdout);
          const results = await convertArchive(source, sink, { compress: opts.compress as Compression, spoolParent: scratch, reporter: renderer.reporter });
          renderer.finish();
          for (const r of results) ctx.print(`${r.names.join(',') || '(untagged)'} ${r.descriptor.digest}`);
        } finally {
          await source.close();
        }
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
}
