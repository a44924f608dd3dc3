/**
 * `ocitool version`: what is running, for bug reports and scripts: ocitool's version (from
 * package.json), Node's, the platform, and the store format this build reads and writes.
 */
import type { Command } from 'commander';
import { formatPlatform, hostPlatform } from '../../oci/platform.js';
import { STORE_FORMAT_VERSION } from '../../store/store.js';
import { printJson, type CliContext } from '../context.js';
import { packageVersion } from '../version.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description('print the versions of ocitool, Node.js and the store format')
    .option('--json', 'print a JSON object')
    .addHelpText('after', '\nExample:\n  $ ocitool version --json\n')
    .action(async (opts: { json?: boolean }) => {
      const info = { ocitool: packageVersion(), node: process.versions.node, platform: formatPlatform(hostPlatform()), storeFormat: STORE_FORMAT_VERSION };
      if (opts.json) printJson(ctx, info);
      else for (const [key, value] of Object.entries(info)) ctx.print(`${key}: ${value}`);
    });
}
