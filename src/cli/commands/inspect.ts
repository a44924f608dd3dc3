/** `ocitool inspect`: a stored image's summary, or its manifest or config byte for byte. */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { formatPlatform, parsePlatform } from '../../oci/platform.js';
import { normalizeTagName } from '../../oci/reference.js';
import { describeImage, pickManifest } from '../../store/describe.js';
import type { CliContext } from '../context.js';
import { printJson } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('show a stored image; --manifest and --config print the stored JSON byte for byte')
    .argument('<image>', 'image name, e.g. debian:bookworm')
    .option('--manifest', 'print the raw manifest (or index) exactly as stored')
    .option('--config', 'print the raw image config exactly as stored')
    .option('--platform <os/arch[/variant]>', 'for an index, which platform\'s config (default: the host\'s)')
    .addHelpText('after', '\nExample:\n  $ ocitool inspect debian:bookworm --manifest | sha256sum\n')
    .action(async (image: string, opts: { manifest?: boolean; config?: boolean; platform?: string }) => {
      if (opts.manifest && opts.config) throw new OcitoolError('USAGE', '--manifest and --config cannot be used together');
      const store = await ctx.openStore();
      const name = normalizeTagName(image);
      const tag = await store.readTag(name);
      if (!tag) throw new OcitoolError('NOT_FOUND', `no image named ${name} in the store`);
      if (opts.manifest) {
        ctx.stdout.write(await store.readBlob(tag.descriptor.digest));
        return;
      }
      const summary = await describeImage(store, tag);
      if (opts.config) {
        const chosen = pickManifest(summary, opts.platform ? parsePlatform(opts.platform) : undefined);
        if (!chosen) throw new OcitoolError('PLATFORM', `${name} has no manifest for ${opts.platform}`);
        ctx.stdout.write(await store.readBlob(chosen.manifest.config.digest));
        return;
      }
      printJson(ctx, {
        name,
        digest: tag.descriptor.digest,
        mediaType: tag.descriptor.mediaType,
        size: summary.size,
        partial: summary.partial,
        // What of a partly pulled index the store holds (docs/store-format.md, tags).
        ...(tag.presentChildren ? { presentChildren: tag.presentChildren } : {}),
        manifests: summary.manifests.map((m) => ({
          digest: m.descriptor.digest,
          platform: formatPlatform(m.platform),
          config: m.manifest.config.digest,
          layers: m.manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
        })),
      });
    });
}
