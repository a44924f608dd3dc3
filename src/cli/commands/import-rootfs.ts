/** `ocitool import-rootfs`: a one-layer image from a rootfs tarball, deterministic (docs/save-load.md). */
import path from 'node:path';
import type { Command } from 'commander';
import { copyImages } from '../../copy/engine.js';
import { buildRootfsLayer } from '../../archive/rootfs-layer.js';
import { rootfsImage } from '../../archive/rootfs-image.js';
import { OcitoolError } from '../../errors.js';
import { formatPlatform, parsePlatformList } from '../../oci/platform.js';
import { normalizeTagName } from '../../oci/reference.js';
import type { CliContext } from '../context.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { checkStdinReadable, STDIO } from '../stdio.js';
import { checkStoreNames } from '../store-names.js';

interface Options {
  tag: string[];
  platform: string;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

/** The platform when none is given: fixed (not the host's), so the digest is the same on every machine. */
const DEFAULT_PLATFORM = 'linux/amd64';

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('import-rootfs')
    .description('make a one-layer image from a rootfs tarball (tar, tar.gz, tar.xz, tar.zst), deterministically')
    .argument('<tarball>', 'rootfs tarball, e.g. rootfs.tar.xz, or - for stdin')
    .requiredOption('--tag <name>', 'name for the image in the store (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--platform <os/arch[/variant]>', 'platform written in the config', DEFAULT_PLATFORM)
    .option('--json', 'print JSON lines only: progress events, then a result event (docs/events.md)')
    .option('-q, --quiet', 'print only the manifest digest')
    .addHelpText('after', '\nExample:\n  $ ocitool import-rootfs rootfs.tar.xz --tag debian:bookworm --platform linux/arm64/v8\n');
  addProgressOption(cmd).action(async (argument: string, opts: Options) => {
      const names = opts.tag.map(normalizeTagName);
      const platforms = parsePlatformList(opts.platform);
      if (platforms.length !== 1) throw new OcitoolError('USAGE', `--platform ${opts.platform}: a rootfs image has one platform`);
      const platform = platforms[0]!;
      if (argument === STDIO) checkStdinReadable('a rootfs tarball (-)');
      // The layer builder reads a path; standard input is /dev/stdin (a pipe or a redirected file).
      const tarball = argument === STDIO ? '/dev/stdin' : argument;
      const store = await ctx.openStore();
      checkStoreNames(store, names);
      // The sink first: it holds the store lock shared, and the layer is built in its staging
      // folder (removed on failure, left alone by gc while this process lives).
      const sink = await store.createSink();
      try {
        const layer = await buildRootfsLayer(tarball, path.join(sink.scratchDir, 'rootfs-layer.tar.gz'));
        const { descriptor, source } = rootfsImage(layer, platform);
        const mode = progressMode(opts, ctx.stderr);
        const renderer = createRenderer(mode, ctx.stderr, ctx.stdout);
        await copyImages(source, sink, [{ descriptor, names }], { reporter: renderer.reporter });
        renderer.finish();
        if (mode !== 'json') ctx.print(descriptor.digest);
        renderer.result({ action: 'imported', images: [{ names, digest: descriptor.digest, mediaType: descriptor.mediaType, platforms: [formatPlatform(platform)] }] });
      } catch (err) {
        await sink.abort(); // a no-op when the engine already aborted or committed
        throw err;
      }
    });
}
