/**
 * Every command, by name, loaded on demand: `main` loads only the module of the command being run
 * (all of them for top-level help), which keeps start-up at about node's own. Each module exports
 * `register(program, ctx)`. Add new commands here.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export type RegisterCommand = (program: Command, ctx: CliContext) => void;
type Loader = () => Promise<{ register: RegisterCommand }>;

// Modules that register more than one command are listed once per command name, by one loader.
const composefs: Loader = () => import('./composefs.js');
const mount: Loader = () => import('./mount.js');

export const commandModules: Record<string, Loader> = {
  'import-oci': () => import('./import-oci.js'),
  pull: () => import('./pull.js'),
  push: () => import('./push.js'),
  copy: () => import('./copy.js'),
  remote: () => import('./remote.js'),
  save: () => import('./save.js'),
  load: () => import('./load.js'),
  convert: () => import('./convert.js'),
  'import-rootfs': () => import('./import-rootfs.js'),
  images: () => import('./images.js'),
  inspect: () => import('./inspect.js'),
  rm: () => import('./rm.js'),
  gc: () => import('./gc.js'),
  fsck: () => import('./fsck.js'),
  'fsverity-digest': () => import('./fsverity-digest.js'),
  checkout: () => import('./checkout.js'),
  composefs,
  'composefs-id': composefs,
  mount,
  umount: mount,
  df: () => import('./df.js'),
  completion: () => import('./completion.js'),
  version: () => import('./version.js'),
};
