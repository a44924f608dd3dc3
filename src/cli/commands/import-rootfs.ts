/** `ocitool import-rootfs`: a one-layer image from a rootfs tarball, deterministic (docs/save-load.md). */
import path from 'node:path';
import type { Command } from 'commander';
import { copyImages } from '../../copy/engine.js';
import { buildRootfsLayer } from '../../archive/rootfs-layer.js';
import { rootfsImage } from '../../archive/rootfs-image.js';
import { formatPlatform, parsePlatform } from '../../oci/platform.js';
import { normalizeTagName } from '../../oci/reference.js';
import type { CliContext } from '../context.js';
import { createRenderer, progressMode } from '../progress.js';
import { checkStoreNames } from '../store-names.js';

interface Options {
  tag: string[];
  platform: string;
  json?: boolean;
  quiet?: boolean;
}

/** The platform when none is given: fixed (not the host's), so the digest is the same on every machine. */
const DEFAULT_PLATFORM = 'linux/amd64';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('import-rootfs')
    .description('make a one-layer image from a rootfs tarball (tar, tar.gz, tar.xz, tar.zst), deterministically')
    .argument('<tarball>', 'rootfs tarball, e.g. rootfs.tar.xz')
    .requiredOption('--tag <name>', 'name for the image in the store (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--platform <os/arch[/variant]>', 'platform written in the config', DEFAULT_PLATFORM)
    .option('--json', 'print progress events and the result as JSON lines')
    .option('-q, --quiet', 'print only the manifest digest')
    .addHelpText('after', '\nExample:\n  $ ocitool import-rootfs rootfs.tar.xz --tag debian:bookworm --platform linux/arm64/v8\n')
    .action(async (tarball: string, opts: Options) => {
      const names = opts.tag.map(normalizeTagName);
      const platform = parsePlatform(opts.platform);
      const store = await ctx.openStore();
      checkStoreNames(store, names);
      // The sink first: it holds the store lock shared, and the layer is built in its staging
      // folder (removed on failure, left alone by gc while this process lives).
      const sink = await store.createSink();
      try {
        const layer = await buildRootfsLayer(tarball, path.join(sink.scratchDir, 'rootfs-layer.tar.gz'));
        const { descriptor, source } = rootfsImage(layer, platform);
        const renderer = createRenderer(progressMode(opts, ctx.stderr), ctx.stderr, ctx.stdout);
        await copyImages(source, sink, [{ descriptor, names }], { reporter: renderer.reporter });
        renderer.finish();
        if (opts.json) ctx.print(JSON.stringify({ type: 'result', digest: descriptor.digest, names, platform: formatPlatform(platform), diffId: layer.diffId }));
        else {
          if (!opts.quiet) for (const name of names) ctx.note(`tagged ${name} (${formatPlatform(platform)})`);
          ctx.print(descriptor.digest);
        }
      } catch (err) {
        await sink.abort(); // a no-op when the engine already aborted or committed
        throw err;
      }
    });
}
