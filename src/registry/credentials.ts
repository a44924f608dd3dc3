/**
 * Finding credentials for a registry, in the order docker and podman use: --creds, then
 * $REGISTRY_AUTH_FILE and containers auth.json, then ~/.docker/config.json (`credHelpers`,
 * `credsStore` through the `docker-credential-*` programs, `auths`). Secrets are returned to the
 * caller only and never put in messages.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod/v3';
import { OcitoolError } from '../errors.js';
import { DEFAULT_REGISTRY } from '../oci/reference.js';
import { validateJson } from '../oci/schemas.js';
import { isEnoent } from '../util/fs.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Docker config and containers auth.json are small; cap them like any JSON we read. */
const MAX_AUTH_FILE_BYTES = 1024 * 1024;
/** A credential helper that does not answer in this time is treated as having no credentials. */
const HELPER_TIMEOUT_MS = 30_000;

/** Parses `--creds USER:PASS`. */
export function parseCredsFlag(text: string): Credentials {
  const i = text.indexOf(':');
  if (i <= 0) throw new OcitoolError('USAGE', '--creds expects USER:PASSWORD');
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** Auth files in lookup order for the current environment. */
export function authFilePaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME ?? homedir();
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  out.push(path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'containers', 'auth.json'));
  out.push(path.join(env.DOCKER_CONFIG ?? path.join(home, '.docker'), 'config.json'));
  return out;
}

/** Keys under which a registry may appear in `auths`: docker.io also as its legacy index URL. */
function registryKeys(registry: string): string[] {
  return registry === DEFAULT_REGISTRY ? [DEFAULT_REGISTRY, 'index.docker.io', 'registry-1.docker.io'] : [registry];
}

/** Normalizes an `auths` key (`https://index.docker.io/v1/`, `localhost:5000`) to a host[:port]. */
function keyHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
}

/**
 * The parts of docker's ConfigFile (and containers auth.json) we read, typed as Go reads them:
 * `null` where Go accepts it (a null map, a null entry in `auths`, a null string) means empty,
 * as docker's cli/config does; any other wrong type is an error naming the file, as in docker.
 */
const nullableString = z.string().nullable().optional();
const AuthEntrySchema = z.object({ auth: nullableString, username: nullableString, password: nullableString }).passthrough().nullable();
const AuthFileSchema = z.object({
  auths: z.record(z.string(), AuthEntrySchema).nullable().optional(),
  credHelpers: z.record(z.string(), z.string().nullable()).nullable().optional(),
  credsStore: nullableString,
}).passthrough();
type AuthFile = z.infer<typeof AuthFileSchema>;
type AuthEntry = z.infer<typeof AuthEntrySchema>;

async function readAuthFile(file: string): Promise<AuthFile | undefined> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    if (isEnoent(err)) return undefined;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new OcitoolError('AUTH', `auth file ${file} cannot be read (${code})`, { cause: err });
  }
  if (raw.length > MAX_AUTH_FILE_BYTES) throw new OcitoolError('AUTH', `auth file ${file} is over ${MAX_AUTH_FILE_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    // Never echo the parse error: it may quote part of a secret.
    throw new OcitoolError('AUTH', `auth file ${file} is not valid JSON`);
  }
  // A top-level null decodes to an empty config in Go, as in docker.
  if (value === null) return {};
  // zod's messages name the field and the expected type, never the value.
  return validateJson(value, AuthFileSchema, `auth file ${file}`);
}

/** Runs `docker-credential-<helper> get` with the server URL on stdin. */
export function runCredentialHelper(helper: string, server: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) return Promise.reject(new OcitoolError('AUTH', `invalid credential helper name "${helper}"`));
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new OcitoolError('AUTH', `credential helper ${program} could not run: ${(err as NodeJS.ErrnoException).code ?? 'error'}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      // Helpers exit non-zero with "credentials not found" when they hold nothing for the server.
      if (code !== 0) return resolve(undefined);
      try {
        const parsed = JSON.parse(Buffer.concat(out).toString('utf8')) as { Username?: string; Secret?: string };
        if (!parsed.Secret) return resolve(undefined);
        resolve({ username: parsed.Username ?? '', password: parsed.Secret });
      } catch {
        reject(new OcitoolError('AUTH', `credential helper ${program} gave an unreadable answer`));
      }
    });
    // EPIPE: the helper exited without reading the server name; its exit status says the rest.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(new OcitoolError('AUTH', `credential helper ${program}: cannot write to it: ${err.message}`, { cause: err }));
    });
    child.stdin.end(server);
  });
}

/** Server string handed to credential helpers: Docker Hub's legacy URL, else the host. */
function helperServer(registry: string): string {
  return registry === DEFAULT_REGISTRY ? 'https://index.docker.io/v1/' : registry;
}

function decodeAuth(entry: AuthEntry): Credentials | undefined {
  if (!entry) return undefined;
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i > 0 ? { username: text.slice(0, i), password: text.slice(i + 1) } : undefined;
}

/** Credentials for `registry` from the auth files and helpers, or undefined (anonymous). */
export async function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const keys = registryKeys(registry);
  for (const file of authFilePaths(env)) {
    const config = await readAuthFile(file);
    if (!config) continue;
    const helpers = config.credHelpers ?? {};
    const helperKey = keys.find((k) => Object.hasOwn(helpers, k));
    const helper = helperKey === undefined ? undefined : helpers[helperKey];
    if (helper) return runCredentialHelper(helper, helperServer(registry), env);
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      if (!keys.includes(keyHost(key))) continue;
      const found = decodeAuth(entry);
      if (found) return found;
    }
    // An empty (or null) credHelpers entry for the registry means docker's file store: `auths` only.
    if (config.credsStore && helperKey === undefined) {
      const found = await runCredentialHelper(config.credsStore, helperServer(registry), env);
      if (found) return found;
    }
  }
  return undefined;
}
