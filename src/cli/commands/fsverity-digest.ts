/** `ocitool fsverity-digest`: the fs-verity digest of files, printed like fsverity-utils. */
import { createReadStream } from 'node:fs';
import { Option, type Command } from 'commander';
import { withContext } from '../../errors.js';
import { FsVerityHasher, formatVerityDigest, type VerityAlgorithm } from '../../verity/fsverity.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('fsverity-digest')
    .description('print the fs-verity digest of files, as `fsverity digest` does')
    .argument('<file...>', 'files to measure')
    .addOption(new Option('--hash <alg>', 'hash algorithm').choices(['sha256', 'sha512']).default('sha256'))
    .addHelpText('after', '\nExample:\n  $ ocitool fsverity-digest --hash sha512 /usr/bin/env\n')
    .action(async (files: string[], opts: { hash: VerityAlgorithm }) => {
      for (const file of files) {
        const hasher = new FsVerityHasher(opts.hash);
        try {
          for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hasher.update(chunk as Buffer);
        } catch (err) {
          throw withContext(file, err);
        }
        ctx.print(`${formatVerityDigest(opts.hash, hasher.digest())} ${file}`);
      }
    });
}
