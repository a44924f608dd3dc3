/** `ocitool inspect`: a stored image's summary, or its manifest or config byte for byte. */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { formatPlatform, parsePlatform } from '../../oci/platform.js';
import type { Store } from '../../store/store.js';
import type { TagRecord } from '../../store/tags.js';
import { normalizeTagName } from '../../oci/reference.js';
import { describeImage, pickManifest } from '../../store/describe.js';
import type { CliContext } from '../context.js';
import { printJson } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('show a stored image; --manifest and --config print the stored JSON byte for byte')
    .argument('<image>', 'image name (debian:bookworm), digest, or a unique digest prefix (sha256:1f0e or 1f0e9d8c)')
    .option('--json', 'print JSON (the default output is JSON already)')
    .option('--manifest', 'print the raw manifest (or index) exactly as stored')
    .option('--config', 'print the raw image config exactly as stored')
    .option('--platform <os/arch[/variant]>', 'for an index, which platform\'s config (default: the host\'s)')
    .addHelpText('after', '\nExample:\n  $ ocitool inspect debian:bookworm --manifest | sha256sum\n')
    .action(async (image: string, opts: { manifest?: boolean; config?: boolean; platform?: string; json?: boolean }) => {
      if (opts.manifest && opts.config) throw new OcitoolError('USAGE', '--manifest and --config cannot be used together');
      if (opts.json && (opts.manifest || opts.config)) throw new OcitoolError('USAGE', '--json prints the summary; --manifest and --config print stored bytes');
      const store = await ctx.openStore();
      const tag = await findImage(store, image);
      const name = tag.name;
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

/** A digest (sha256:HEX) or a hex prefix of one: at least 4 hex digits, with or without sha256:. */
export function isDigestLike(text: string): boolean {
  return /^(sha256:[0-9a-f]{1,64}|[0-9a-f]{4,64})$/.test(text);
}

/**
 * The tag for a name, a digest or a unique digest prefix (as docker inspect takes an image ID).
 * A name that is a tag wins over a prefix that happens to look like hex.
 */
export async function findImage(store: Store, text: string): Promise<TagRecord> {
  let name: string | undefined;
  let nameError: unknown;
  try {
    name = normalizeTagName(text);
  } catch (err) {
    if (!isDigestLike(text)) throw err;
    nameError = err;
  }
  if (name !== undefined && !text.startsWith('sha256:')) {
    const tag = await store.readTag(name);
    if (tag) return tag;
  }
  if (isDigestLike(text)) {
    const prefix = text.startsWith('sha256:') ? text : `sha256:${text}`;
    const { tags } = await store.readAllTags();
    const matches = tags.filter((t) => t.descriptor.digest.startsWith(prefix));
    const digests = [...new Set(matches.map((t) => t.descriptor.digest))];
    if (digests.length > 1) throw new OcitoolError('USAGE', `digest prefix ${text} is ambiguous: it matches ${digests.join(', ')}`);
    if (digests.length === 1) {
      // The name that sorts first when several name the image; the digest name of an untagged one last.
      return matches.sort((a, b) => Number(a.name.startsWith('sha256:')) - Number(b.name.startsWith('sha256:')) || (a.name < b.name ? -1 : 1))[0]!;
    }
    if (name === undefined || text.startsWith('sha256:')) throw new OcitoolError('NOT_FOUND', `no image with digest ${text} in the store`, { cause: nameError });
  }
  throw new OcitoolError('NOT_FOUND', `no image named ${name} in the store`);
}
