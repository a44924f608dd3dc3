/** `ocitool mount IMAGE MOUNTPOINT` and `ocitool umount MOUNTPOINT`: composefs mounts (src/rootfs/mount.ts). */
import type { Command } from 'commander';
import { parsePlatform } from '../../oci/platform.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('mount')
    .description('mount a stored image read-only through composefs (root, Linux 6.5+ with erofs and overlayfs): no unpacking, files served from the store')
    .argument('<image>', 'image name in the store')
    .argument('<mountpoint>', 'an existing folder')
    .option('--platform <os/arch[/variant]>', "for an index, which platform (default: the host's)")
    .addHelpText('after', '\nExample:\n  $ ocitool mount debian:bookworm /mnt/debian && ls /mnt/debian && ocitool umount /mnt/debian\n')
    .action(async (image: string, mountpoint: string, opts: { platform?: string }) => {
      const { mountImage } = await import('../../rootfs/mount.js');
      const store = await ctx.openStore();
      const r = await mountImage(store, image, mountpoint, opts.platform ? { platform: parsePlatform(opts.platform) } : {});
      ctx.note(`mounted ${r.name} (${r.manifest}) at ${r.mountpoint}, composefs id ${r.id}; file contents are not checked by the kernel (store objects carry no fs-verity): run ocitool fsck to check them`);
    });
  program
    .command('umount')
    .description('unmount what ocitool mount mounted')
    .argument('<mountpoint>', 'the mount point given to ocitool mount')
    .action(async (mountpoint: string) => {
      const { unmountImage } = await import('../../rootfs/mount.js');
      await unmountImage(mountpoint);
    });
}
