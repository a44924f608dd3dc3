/** `ocitool convert`: a docker-save archive (or OCI layout tar) to an OCI layout folder or tar. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
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
      const out = path.resolve(opts.output);
      // Spool next to the output, so re-compressed layers are renamed into place, never copied.
      const spoolParent = out.endsWith('.tar') ? path.dirname(out) : out;
      await mkdir(spoolParent, { recursive: true });
      const spool = await mkdtemp(path.join(spoolParent === out ? os.tmpdir() : spoolParent, '.ocitool-convert-'));
      try {
        const source = await openArchiveSource(archive === '-' ? { stream: process.stdin, label: 'stdin' } : { file: archive }, spool);
        try {
          const sink = out.endsWith('.tar')
            ? new LayoutTarSink({ file: out }, { spoolParent: spool, backing: source })
            : await LayoutFolderSink.create(out);
          const renderer = createRenderer(progressMode(opts, ctx.stderr), ctx.stderr, ctx.stdout);
          const results = await convertArchive(source, sink, { compress: opts.compress as Compression, spoolParent: spool, reporter: renderer.reporter });
          renderer.finish();
          for (const r of results) ctx.print(`${r.names.join(',') || '(untagged)'} ${r.descriptor.digest}`);
        } finally {
          await source.close();
        }
      } finally {
        await rm(spool, { recursive: true, force: true });
      }
    });
}
