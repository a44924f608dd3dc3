/** `ocitool fsverity-digest`: the fs-verity digest of files, printed like fsverity-utils. */
import { Option, type Command } from 'commander';
import { fsverityDigestOfFile } from '../../verity/file-digest.js';
import { formatVerityDigest, type VerityAlgorithm } from '../../verity/fsverity.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('fsverity-digest')
    .description('print the fs-verity digest of files, as `fsverity digest` does')
    .argument('<file...>', 'files to measure')
    .addOption(new Option('--hash <alg>', 'hash algorithm').choices(['sha256', 'sha512']).default('sha256'))
    .addHelpText('after', '\nExample:\n  $ ocitool fsverity-digest --hash sha512 /usr/bin/env\n')
    .action(async (files: string[], opts: { hash: VerityAlgorithm }) => {
      // Large files are hashed on every core (src/verity/file-digest.ts).
      for (const file of files) ctx.print(`${formatVerityDigest(opts.hash, await fsverityDigestOfFile(file, opts.hash))} ${file}`);
    });
}
