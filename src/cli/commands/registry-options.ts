/** Flags shared by the commands that talk to a registry (pull, remote), turned into source options. */
import type { Command } from 'commander';
import { parseCredsFlag, type RegistrySourceOptions } from '../../registry/index.js';

export interface RegistryFlags {
  plainHttp?: boolean;
  creds?: string;
  registryMirror?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds --plain-http, --creds and --registry-mirror to a command. */
export function addRegistryFlags(cmd: Command): Command {
  return cmd
    .option('--plain-http', 'allow plain HTTP to this registry (always allowed for localhost and 127.0.0.0/8)')
    .option('--creds <user:password>', 'credentials for the registry (default: docker/podman auth files and credential helpers)')
    .option('--registry-mirror <url>', 'Docker Hub mirror to try first, repeatable (also $DOCKERHUB_PUBLIC_PROXY)', collect, []);
}

/** Source options from the parsed flags. */
export function registryOptions(flags: RegistryFlags): RegistrySourceOptions {
  return {
    plainHttp: flags.plainHttp,
    mirrors: flags.registryMirror,
    ...(flags.creds ? { credentials: parseCredsFlag(flags.creds) } : {}),
  };
}
