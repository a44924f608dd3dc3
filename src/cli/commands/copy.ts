/**
 * `ocitool copy SRC DST`: any transport to any transport through the one copy engine, names as
 * skopeo writes them (src/copy/transport-names.ts). `push` is `copy store:IMAGE docker://REF`.
 * Platform rules, progress and output are pull's; the root digest as the destination holds it
 * is printed last. See docs/push.md.
 */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { copyImages, DEFAULT_CONCURRENCY } from '../../copy/engine.js';
import { parseTransportName, type TransportName } from '../../copy/transport-names.js';
import type { CliContext } from '../context.js';
import { collect, parseConcurrency, platformsFrom } from '../flags.js';
import { addProgressOption, createRenderer, progressMode } from '../progress.js';
import { openSinkByName, openSourceByName } from '../transports.js';
import { addRegistryFlags, registryOptions, type RegistryFlags } from './registry-options.js';

export interface CopyFlags extends RegistryFlags {
  platform: string[];
  allPlatforms?: boolean;
  concurrency?: number;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
  srcCreds?: string;
  destCreds?: string;
}

/** The options copy and push share. */
export function addCopyFlags(cmd: Command): Command {
  cmd
    .option('--platform <os/arch[/variant]>', 'platform to copy from an index, repeatable (default: this host)', collect, [])
    .option('--all-platforms', 'copy every platform of an index')
    .option('--concurrency <n>', `blobs copied at once (default ${DEFAULT_CONCURRENCY})`, parseConcurrency)
    .option('--json', 'print one JSON progress event per line')
    .option('-q, --quiet', 'print only the digest');
  return addRegistryFlags(addProgressOption(cmd));
}

/**
 * Copies one image from `from` to `to`; ends with the result (docs/events.md) and, unless --json,
 * the digest the destination holds on stdout. `action` is the verb of the result line.
 */
export async function runCopy(ctx: CliContext, from: TransportName, to: TransportName, flags: CopyFlags, action = 'copied'): Promise<void> {
  const platforms = platformsFrom(flags);
  const transportCtx = {
    openStore: () => ctx.openStore(),
    registry: registryOptions({ ...flags, creds: flags.srcCreds ?? flags.creds }),
    sinkRegistry: registryOptions({ ...flags, creds: flags.destCreds ?? flags.creds }),
  };
  const renderer = createRenderer(progressMode(flags, ctx.stderr), ctx.stderr, ctx.stdout);
  try {
    const opened = await openSourceByName(from, transportCtx);
    try {
      const target = await openSinkByName(to, transportCtx, opened);
      try {
        const [result] = await copyImages(opened.source, target.sink, [{ ...opened.root, names: target.names }], {
          platforms,
          concurrency: flags.concurrency,
          reporter: renderer.reporter,
        });
        if (target.expectDigest && result!.descriptor.digest !== target.expectDigest) {
          throw new OcitoolError('DIGEST_MISMATCH', `${target.destination}@${target.expectDigest}: the image copied is ${result!.descriptor.digest} (left untagged); name the destination by tag, or copy the platforms that make that digest`);
        }
        renderer.result({
          action,
          images: [{ names: target.names, digest: result!.descriptor.digest, mediaType: result!.descriptor.mediaType }],
          ...(target.destination !== undefined ? { destination: target.destination } : {}),
        });
        if (!flags.json && flags.progress !== 'json') ctx.print(result!.descriptor.digest);
      } finally {
        await target.close();
      }
    } finally {
      await opened.close();
      await opened.source.close?.();
    }
  } catch (err) {
    renderer.finish();
    throw err;
  }
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('copy')
    .argument('<source>', 'docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME], store:NAME or a store name')
    .argument('<destination>', 'the same transport names')
    .description('copy an image between registries, layouts, archives and the store, verifying every byte');
  addCopyFlags(cmd)
    .option('--src-creds <user:password>', 'credentials for the source registry (instead of --creds)')
    .option('--dest-creds <user:password>', 'credentials for the destination registry (instead of --creds)')
    .addHelpText('after', '\nExamples:\n  $ ocitool copy docker://localhost:5000/a/b:1 docker://localhost:5000/c/d:1\n  $ ocitool copy oci:./app-oci:1.0 docker://registry.example/team/app:1.0\n  $ ocitool copy --all-platforms docker://debian:bookworm oci:./debian:bookworm\n')
    .action(async (source: string, destination: string, flags: CopyFlags) => {
      await runCopy(ctx, parseTransportName(source), parseTransportName(destination), flags);
    });
}
