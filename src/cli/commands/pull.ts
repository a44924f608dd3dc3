/**
 * `ocitool pull REF`: resolves REF on its registry and copies the image through the engine into
 * the store (tagged with the normalized name) or, with --layout, into an OCI layout folder.
 * Prints the root digest last on stdout. Partly pulled indexes: see docs/pull.md.
 */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { copyImages, DEFAULT_CONCURRENCY } from '../../copy/engine.js';
import type { ImageSink } from '../../copy/transport.js';
import { LayoutFolderSink } from '../../layout/folder-sink.js';
import { formatReference, parseReference, type Reference } from '../../oci/reference.js';
import { resolve } from '../../registry/index.js';
import { StoreSink } from '../../store/sink.js';
import type { CliContext } from '../context.js';
import { collect, parseConcurrency, platformsFrom } from '../flags.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { readFirst, resultImages } from '../outcome.js';
import { checkOutputFolder } from '../../util/output.js';
import { checkRefName } from '../../archive/refs.js';
import { checkSinglePlatform } from '../platform-check.js';
import { guardLayoutSink, splitLayoutRef } from '../layout-refs.js';
import { addRegistryFlags, registryOptions, type RegistryFlags } from './registry-options.js';

interface PullFlags extends RegistryFlags {
  platform: string[];
  allPlatforms?: boolean;
  layout?: string;
  force?: boolean;
  concurrency?: number;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

/** The store tag for a pulled reference: name:tag, or name@digest when pulled by digest only. */
export function storeName(ref: Reference): string {
  return ref.tag ? formatReference({ ...ref, digest: undefined }) : formatReference(ref);
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('pull')
    .argument('<ref>', 'image reference: debian, debian:bookworm, localhost:5000/x/y:tag, name@sha256:…')
    .description('pull an image from a registry into the store, or into an OCI layout folder with --layout')
    .option('--platform <os/arch[/variant]>', 'platform to keep from an index, repeatable (default: this host)', collect, [])
    .option('--all-platforms', 'keep every platform of an index')
    .option('--layout <dir[:ref]>', 'write an OCI image layout folder instead of the store; the ref is REF, else the tag')
    .option('--force', 'repoint a layout ref that names another image; keep a single-platform image that does not match --platform')
    .option('--concurrency <n>', `layers downloaded at once (default ${DEFAULT_CONCURRENCY})`, parseConcurrency)
    .option('--json', 'print JSON lines only: progress events, then a result event (docs/events.md)')
    .option('-q, --quiet', 'print only the digest')
    .addHelpText('after', '\nExamples:\n  $ ocitool pull debian:bookworm --platform linux/arm64\n  $ ocitool pull localhost:5000/team/app:1.0 --layout ./app-oci\n');
  addProgressOption(cmd);
  addRegistryFlags(cmd).action(async (refText: string, flags: PullFlags) => {
    const ref = parseReference(refText);
    const platforms = platformsFrom(flags);
    const layout = flags.layout === undefined ? undefined : await splitLayoutRef(flags.layout, { output: true });
    if (layout?.ref !== undefined) checkRefName(layout.ref);
    // A layout folder that cannot be made (under /proc, over a file) fails before the registry is asked.
    const layoutDir = layout ? await checkOutputFolder(layout.path) : undefined;
    const mode = progressMode(flags, ctx.stderr);
    const renderer = createRenderer(mode, ctx.stderr, ctx.stdout);
    try {
      const resolved = await resolve(ref, registryOptions(flags));
      if (platforms !== 'all' && flags.platform.length) await checkSinglePlatform((d) => resolved.source.readBlob(d), resolved.descriptor, platforms, formatReference(ref), flags.force === true);
      const sink: ImageSink = layout ? guardLayoutSink(await LayoutFolderSink.create(layout.path), layout.path, { force: flags.force === true }) : await StoreSink.create(await ctx.openStore(), { keepVerified: true });
      // Layout refs are what `skopeo copy oci:DIR:TAG` selects by: the tag alone, or the REF of DIR:REF.
      const names = layout ? (layout.ref !== undefined ? [layout.ref] : ref.tag ? [ref.tag] : []) : [storeName(ref)];
      const [result] = await copyImages(resolved.source, sink, [{ descriptor: resolved.descriptor, names }], {
        platforms,
        concurrency: flags.concurrency,
        reporter: renderer.reporter,
      });
      renderer.finish();
      const images = await resultImages([result!], readFirst(sink.readSmallBlob?.bind(sink)));
      // The digest stays the last stdout line without --json: scripts read it.
      if (mode !== 'json') ctx.print(result!.descriptor.digest);
      renderer.result({ action: 'pulled', images, ...(layout ? { destination: layout.path } : {}) });
    } catch (err) {
      renderer.finish();
      throw err;
    }
  });
}
