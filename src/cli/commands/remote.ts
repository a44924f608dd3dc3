/** `ocitool remote arches REF`: the platforms of a remote image as bashbrew architecture names. */
import type { Command } from 'commander';
import { parseReference } from '../../oci/reference.js';
import { formatPlatform } from '../../oci/platform.js';
import { listRemotePlatforms, resolve } from '../../registry/index.js';
import { printJson, type CliContext } from '../context.js';
import { addRegistryFlags, registryOptions, type RegistryFlags } from './registry-options.js';

export function register(program: Command, ctx: CliContext): void {
  const remote = program.command('remote').description('read images on a registry without pulling them').addHelpText('after', '\nExample:\n  $ ocitool remote arches debian:bookworm\n');
  const arches = remote
    .command('arches')
    .argument('<ref>', 'image reference')
    .description('list the platforms of a remote image as bashbrew architecture names, with their manifests')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExample:\n  $ ocitool remote arches debian:bookworm --json\n');
  addRegistryFlags(arches).action(async (refText: string, flags: RegistryFlags & { json?: boolean }) => {
    const resolved = await resolve(parseReference(refText), registryOptions(flags));
    const platforms = await listRemotePlatforms(resolved);
    if (flags.json) {
      printJson(ctx, { digest: resolved.descriptor.digest, mediaType: resolved.descriptor.mediaType, platforms });
      return;
    }
    for (const p of platforms) ctx.print(`${p.arch}\t${formatPlatform(p.platform)}\t${p.descriptor.digest}\t${p.descriptor.mediaType}`);
  });
}
