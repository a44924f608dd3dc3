/**
 * `ocitool composefs --from-dump FILE -o OUT`: a composefs EROFS image from a composefs dump file,
 * byte for byte what `mkcomposefs --from-file` writes (docs/composefs.md).
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Option, type Command } from 'commander';
import { OcitoolError, withContext } from '../../errors.js';
import { parseDump } from '../../composefs/dump.js';
import { writeErofs, type WriteOptions } from '../../composefs/erofs-writer.js';
import { FsVerityHasher, formatVerityDigest } from '../../verity/fsverity.js';
import type { CliContext } from '../context.js';
import { parsePlatform } from '../../oci/platform.js';

interface Options {
  fromDump?: string;
  output?: string;
  platform?: string;
  formatVersion?: '0' | '1';
  printDigest?: boolean;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The dump's bytes, gunzipped when they start with the gzip magic. */
async function readDump(file: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = file === '-' ? await readStdin() : await readFile(file);
  } catch (err) {
    throw withContext(file, err);
  }
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = gunzipSync(data);
    } catch (err) {
      throw new OcitoolError('ARCHIVE_INVALID', `${file}: not a readable gzip file (${(err as Error).message})`, { cause: err });
    }
  }
  return data;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('composefs')
    .description('write the composefs EROFS image of a stored image (kept in the store, or -o FILE), or of a composefs dump file (as mkcomposefs --from-file)')
    .argument('[image]', 'image name in the store')
    .option('--from-dump <file>', 'composefs-dump(5) file, gzip accepted; - for standard input')
    .option('-o, --output <file>', 'image file to write; - for standard output (never a terminal); default for an IMAGE: into the store')
    .option('--platform <os/arch[/variant]>', "for an index, which platform (default: the host's)")
    .addOption(
      new Option('--format-version <n>', 'format version to write; default for a dump: 0, or 1 when the tree holds whiteouts (as mkcomposefs); for an IMAGE: 1 (as composefs-rs)').choices(['0', '1']),
    )
    .option('--print-digest', "print the image's fs-verity sha256 digest (its composefs id)")
    .addHelpText('after', '\nExamples:\n  $ ocitool composefs debian:bookworm\n  $ ocitool composefs debian:bookworm -o debian.cfs\n  $ ocitool composefs --from-dump rootfs.dump.gz -o rootfs.cfs\n  $ ocitool composefs --from-dump - -o rootfs.cfs --format-version 1 < rootfs.dump\n')
    .action(async (imageName: string | undefined, opts: Options) => {
      if ((imageName === undefined) === (opts.fromDump === undefined)) throw new OcitoolError('USAGE', 'give either an IMAGE from the store or --from-dump FILE');
      if (imageName !== undefined) {
        await fromStore(ctx, imageName, opts);
        return;
      }
      if (opts.output === undefined) throw new OcitoolError('USAGE', '--from-dump needs -o FILE');
      if (opts.output === '-' && ctx.stdout.isTTY) {
        throw new OcitoolError('USAGE', 'refusing to write an image to a terminal: use -o FILE or redirect stdout');
      }
      if (opts.output === '-' && opts.printDigest) throw new OcitoolError('USAGE', '--print-digest needs -o FILE: standard output carries the image');
      if (opts.fromDump === '-' && (process.stdin as { isTTY?: boolean }).isTTY) {
        throw new OcitoolError('USAGE', 'refusing to read a dump from a terminal: give a file or redirect stdin');
      }
      const dump = await readDump(opts.fromDump!);
      const versions: WriteOptions =
        opts.formatVersion === undefined ? { version: 0, maxVersion: 1 } : { version: Number(opts.formatVersion) as 0 | 1 };
      const image = writeErofs(parseDump(dump), versions);
      await writeImage(ctx, image, opts);
    });

  program
    .command('composefs-id')
    .description("print the composefs id of a stored image: the fs-verity digest of its EROFS image, as cfsctl oci compute-id prints it")
    .argument('<image>', 'image name in the store')
    .addOption(new Option('--hash <algorithm>', 'fs-verity hash of the image').choices(['sha256', 'sha512']).default('sha256'))
    .option('--platform <os/arch[/variant]>', "for an index, which platform (default: the host's)")
    .option('--format-version <n>', 'format version of the image', '1')
    .addHelpText('after', '\nExample:\n  $ ocitool composefs-id debian:bookworm\n')
    .action(async (imageName: string, opts: { hash: 'sha256' | 'sha512'; platform?: string; formatVersion: string }) => {
      const { buildComposefsImage, composefsId } = await import('../../rootfs/composefs-image.js');
      const store = await ctx.openStore();
      const built = await buildComposefsImage(store, imageName, { ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}), formatVersion: formatVersion(opts.formatVersion) });
      ctx.print(composefsId(built.image, opts.hash));
    });
}

function formatVersion(text: string | undefined): 0 | 1 {
  if (text === undefined) return 1;
  if (text !== '0' && text !== '1') throw new OcitoolError('USAGE', `--format-version ${text}: expected 0 or 1`);
  return Number(text) as 0 | 1;
}

async function fromStore(ctx: CliContext, imageName: string, opts: Options & { formatVersion?: '0' | '1'; printDigest?: boolean }): Promise<void> {
  const { buildComposefsImage, storeComposefsImage } = await import('../../rootfs/composefs-image.js');
  const store = await ctx.openStore();
  const built = await buildComposefsImage(store, imageName, { ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}), formatVersion: formatVersion(opts.formatVersion) });
  if (opts.output !== undefined) {
    await writeImage(ctx, built.image, opts);
    if (opts.output !== '-') ctx.note(`wrote the composefs image of ${built.name} (${built.manifest}) to ${opts.output}: ${built.image.length} bytes, id ${built.id}`);
    return;
  }
  await storeComposefsImage(store, built);
  ctx.note(`stored the composefs image of ${built.name} (${built.manifest}): ${built.image.length} bytes`);
  ctx.print(built.id);
}

async function writeImage(ctx: CliContext, image: Buffer, opts: { output?: string; printDigest?: boolean }): Promise<void> {
      if (opts.output === '-') {
        await new Promise<void>((resolve, reject) => ctx.stdout.write(image, (err) => (err ? reject(err) : resolve())));
      } else {
        // Written beside the target and renamed, so a failed run leaves no partial image.
        const target = path.resolve(opts.output!);
        const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
        try {
          await writeFile(temp, image);
          await rename(temp, target);
        } catch (err) {
          await rm(temp, { force: true });
          throw withContext(opts.output!, err);
        }
      }
      if (opts.printDigest) {
        const hasher = new FsVerityHasher('sha256');
        hasher.update(image);
        ctx.print(formatVerityDigest('sha256', hasher.digest()));
      }
}
