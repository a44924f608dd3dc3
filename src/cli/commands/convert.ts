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
import { checkRefName, fullName } from '../../archive/refs.js';
import { guardLayoutSink } from '../layout-refs.js';
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
  compressionLevel?: string;
  ref?: string;
  force?: boolean;
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
    .option('--compression-level <n>', 'gzip 1-9 (default 1, as crane; 6 is what docker and skopeo use: 8% smaller, twice the time), zstd 1-19 (default 3)')
    .option('--ref <ref>', 'the layout ref to give the image (an archive of one image); default: its tag')
    .option('--force', 'repoint a ref of an existing layout folder that names another image')
    .option('--json', 'print JSON lines only: progress events, then a result event (docs/events.md)')
    .option('-q, --quiet', 'print only the converted names and digests')
    .addHelpText('after', '\nExamples:\n  $ ocitool convert debian-save.tar -o debian-oci.tar --compress zstd\n  $ docker save debian | ocitool convert - -o - | gzip > debian-oci.tar.gz\n');
  addProgressOption(cmd).action(async (archive: string, opts: Options) => {
      if (!['gzip', 'zstd', 'none'].includes(opts.compress)) throw new OcitoolError('USAGE', `--compress ${opts.compress}: one of gzip, zstd, none`);
      const level = compressionLevel(opts.compress, opts.compressionLevel);
      const mode = progressMode(opts, ctx.stderr);
      const toStdout = opts.output === STDIO;
      if (toStdout) {
        checkStdoutWritable('a layout tar', ctx.stdout);
        if (mode === 'json') throw new OcitoolError('USAGE', '-o - writes the tar to stdout: --json (or --progress json) cannot share it');
      }
      if (archive === STDIO) checkStdinReadable('ARCHIVE (-)');
      if (opts.ref !== undefined) checkRefName(opts.ref);
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
          if (opts.ref !== undefined && source.images.length !== 1) throw new OcitoolError('USAGE', `--ref ${opts.ref}: ${archive === STDIO ? 'stdin' : archive} holds ${source.images.length} images; --ref names one`);
          const written = toTar
            ? new LayoutTarSink(toStdout ? { stream: ctx.stdout as NodeJS.WritableStream as Writable, label: 'stdout' } : { file: out }, { spoolParent: scratch, backing: source })
            : await LayoutFolderSink.create(out);
          // An existing folder keeps its other refs; one that names another image is repointed only with --force.
          if (written instanceof LayoutTarSink && opts.ref !== undefined && source.images[0]!.imageNames[0]) written.setImageName(opts.ref, fullName(source.images[0]!.imageNames[0]));
          const sink = toTar && opts.ref === undefined ? written : guardLayoutSink(written, out, { force: toTar || opts.force === true, ...(opts.ref !== undefined ? { rename: opts.ref } : {}) });
          const renderer = createRenderer(mode, ctx.stderr, ctx.stdout);
          const results = await convertArchive(source, sink, { compress: opts.compress as Compression, ...(level !== undefined ? { compressOptions: { level } } : {}), spoolParent: scratch, reporter: renderer.reporter });
          renderer.finish();
          const images = (await resultImages(results, readFirst(written.readSmallBlob?.bind(written), (d) => source.readBlob(d)))).map((i) => (opts.ref !== undefined ? { ...i, names: [opts.ref] } : i));
          // The tar is stdout's data with -o -: the names and digests go to stderr only.
          if (mode !== 'json' && !toStdout) for (const i of images) ctx.print(`${i.names.join(',') || '(untagged)'} ${i.digest}`);
          renderer.result({ action: 'converted', images, destination: toStdout ? 'stdout' : opts.output });
        } finally {
          await source.close();
        }
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
}

/** The --compression-level value, checked against the range of the chosen compression. */
function compressionLevel(kind: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const max = kind === 'gzip' ? 9 : kind === 'zstd' ? 19 : 0;
  if (max === 0) throw new OcitoolError('USAGE', `--compression-level ${text}: --compress ${kind} has no level`);
  const level = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(level >= 1 && level <= max)) throw new OcitoolError('USAGE', `--compression-level ${text}: a whole number from 1 to ${max} for ${kind}`);
  return level;
}
