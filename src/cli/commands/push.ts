/**
 * `ocitool push IMAGE REF`: an image from the store to a registry; `copy store:IMAGE docker://REF`
 * under another name. See docs/push.md.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { addCopyFlags, runCopy, type CopyFlags } from './copy.js';

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('push')
    .argument('<image>', 'image in the store (an image without tag means :latest)')
    .argument('<ref>', 'where to push it: localhost:5000/team/app:1.0, registry.example/x@sha256:…')
    .description('push an image from the store to a registry (blobs first, then manifests, the tag last)');
  addCopyFlags(cmd)
    .addHelpText('after', '\nExamples:\n  $ ocitool push app:1.0 registry.example/team/app:1.0\n  $ ocitool push --all-platforms debian:bookworm localhost:5000/mirror/debian:bookworm\n')
    .action(async (image: string, ref: string, flags: CopyFlags) => {
      await runCopy(ctx, { transport: 'store', name: image }, { transport: 'docker', reference: ref }, flags, 'pushed');
    });
}
