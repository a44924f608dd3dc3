/** Flags shared by the commands that talk to a registry (pull, copy, push, remote), turned into source options. */
import type { Command } from 'commander';
import { OcitoolError } from '../../errors.js';
import { collect } from '../flags.js';
import { DEFAULT_TIMEOUT_SECONDS, parseCredsFlag, timeoutsOf, type RegistrySourceOptions } from '../../registry/index.js';

export interface RegistryFlags {
  plainHttp?: boolean;
  creds?: string;
  registryMirror?: string[];
  timeout?: number;
}

/** A day: anything longer is a typo, and a hung request should not outlive the job that ran it. */
const MAX_TIMEOUT_SECONDS = 86_400;

function parseTimeout(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(n > 0) || n > MAX_TIMEOUT_SECONDS) {
    throw new OcitoolError('USAGE', `--timeout must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, not "${text}"`);
  }
  return n;
}

/** Adds --plain-http, --creds and --registry-mirror to a command. */
export function addRegistryFlags(cmd: Command): Command {
  return cmd
    .option('--plain-http', 'allow plain HTTP to this registry (always allowed for localhost and 127.0.0.0/8)')
    .option('--creds <user:password>', 'credentials for the registry (default: docker/podman auth files and credential helpers)')
    .option('--registry-mirror <url>', 'Docker Hub mirror to try first, repeatable (also $DOCKERHUB_PUBLIC_PROXY)', collect, [])
    .option('--timeout <seconds>', `longest wait for a connection, for response headers, or for the next bytes of a body, per request (default ${DEFAULT_TIMEOUT_SECONDS})`, parseTimeout);
}

/** Source options from the parsed flags. */
export function registryOptions(flags: RegistryFlags): RegistrySourceOptions {
  return {
    plainHttp: flags.plainHttp,
    mirrors: flags.registryMirror,
    ...(flags.timeout !== undefined ? { timeouts: timeoutsOf(flags.timeout) } : {}),
    ...(flags.creds ? { credentials: parseCredsFlag(flags.creds) } : {}),
  };
}
