/** Every command module; each exports `register(program, ctx)`. Add new commands to this list. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import * as fsverityDigest from './fsverity-digest.js';
import * as importOci from './import-oci.js';
import * as images from './images.js';
import * as inspect from './inspect.js';
import * as rm from './rm.js';
import * as gc from './gc.js';
import * as fsck from './fsck.js';
import * as pull from './pull.js';
import * as remote from './remote.js';
import * as save from './save.js';
import * as load from './load.js';
import * as convert from './convert.js';
import * as importRootfs from './import-rootfs.js';

export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export const commands: RegisterCommand[] = [
  importOci.register,
  images.register,
  inspect.register,
  rm.register,
  gc.register,
  fsck.register,
  fsverityDigest.register,
  pull.register,
  remote.register,
  save.register,
  load.register,
  convert.register,
  importRootfs.register,
];
