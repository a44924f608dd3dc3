/** `ocitool checkout IMAGE DIR`: an image from the store as a root filesystem (src/rootfs). */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../progress.js';

const MODES = ['auto', 'reflink', 'copy', 'hardlink'] as const;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('checkout')
    .description('write a stored image as a root filesystem into an empty or new folder (layers merged as OCI says)')
    .argument('<image>', 'image name in the store, e.g. debian:bookworm')
    .argument('<dir>', 'folder to create (absent or empty)')
    .option('--platform <os/arch[/variant]>', "for an index, which platform (default: the host's)")
    .option('--mode <mode>', 'auto (clone where the filesystem can, else copy), reflink, copy, or hardlink (share the store object when its mode and owner match, the file then has the object’s mtime; opt-in)', 'auto')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', '\nExample:\n  $ ocitool checkout debian:bookworm ./rootfs\n')
    .action(async (image: string, dir: string, opts: { platform?: string; mode: string; json?: boolean }) => {
      if (!MODES.includes(opts.mode as never)) throw new OcitoolError('USAGE', `--mode ${opts.mode}: expected one of ${MODES.join(', ')}`);
      const store = await ctx.openStore();
      const { checkout } = await import('../../rootfs/checkout.js');
      const result = await checkout(store, image, dir, { mode: opts.mode as (typeof MODES)[number], ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}) });
      if (opts.json) {
        ctx.print(JSON.stringify({ type: 'result', ...result }));
        return;
      }
      const s = result.skipped;
      if (s.owners) ctx.note('not root: files are owned by the current user, not by the uid/gid the image gives');
      const skipped = [s.devices ? `${s.devices} device nodes` : '', s.fifos ? `${s.fifos} FIFOs` : '', s.xattrs.length ? `${s.xattrs.length} extended attributes (${s.xattrs.slice(0, 3).join('; ')}${s.xattrs.length > 3 ? '; …' : ''})` : ''].filter(Boolean);
      if (skipped.length) ctx.note(`skipped: ${skipped.join(', ')}`);
      ctx.note(`checked out ${result.name} ${result.manifest} into ${result.dir}: ${result.files} files (${formatBytes(result.bytes)}), ${result.directories} folders, ${result.symlinks} symlinks, ${result.hardlinks} hardlinks${result.reflinked ? `, ${result.reflinked} cloned` : ''}${result.linkedToStore ? `, ${result.linkedToStore} linked to the store` : ''}`);
    });
}
