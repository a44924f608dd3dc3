/**
 * Test harness for the real distribution registry (Debian `docker-registry`): each instance gets a
 * config written here (filesystem storage in a temp folder, bound to 127.0.0.1 on a free port,
 * never the package's default config which listens on all interfaces), optionally htpasswd basic
 * auth or token auth backed by a small token service started here, and is stopped after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createSign, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { mustRun, removeDir, tempDir } from './index.js';

export interface RegistryInstance {
  /** host:port to put in references: 127.0.0.1:PORT. */
  host: string;
  port: number;
  dir: string;
  /** Token service, when started with `token: true`. */
  tokens?: TokenService;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** htpasswd basic auth with this user. */
  basicAuth?: { username: string; password: string };
  /** Token auth (bearer) through a token service that grants anonymous pull and push. */
  token?: boolean;
  /**
   * With `token`: anonymous users get pull only; push is granted only to this user (basic
   * credentials on the token request), as a registry with public images works.
   */
  tokenPushUser?: { username: string; password: string };
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Polls GET /v2/ until the registry answers; 100 tries 100 ms apart. */
async function waitReady(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on port ${port}: ${log()}`);
}

/** Starts a real registry on 127.0.0.1 with a fresh storage folder. */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryInstance> {
  const dir = await tempDir('ocitool-registry-');
  const port = await freePort();
  let auth = '';
  let tokens: TokenService | undefined;
  if (options.basicAuth) {
    const line = await mustRun('htpasswd', ['-Bbn', options.basicAuth.username, options.basicAuth.password]);
    await writeFile(path.join(dir, 'htpasswd'), line);
    auth = `auth:\n  htpasswd:\n    realm: ocitool-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (options.token) {
    tokens = await startTokenService(dir, options.tokenPushUser);
    auth = `auth:\n  token:\n    realm: ${tokens.realm}\n    service: ${tokens.service}\n    issuer: ${tokens.issuer}\n    rootcertbundle: ${tokens.certFile}\n`;
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    auth,
  ].join('\n');
  const configFile = path.join(dir, 'config.yml');
  await writeFile(configFile, config);
  const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += c.toString();
  });
  await waitReady(port, child, () => stderr);
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    tokens,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await tokens?.stop();
      await removeDir(dir);
    },
  };
}

export interface TokenService {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Token requests received, with the scope asked for and whether basic credentials came with it. */
  requests: { scope: string | null; withCredentials: boolean }[];
  stop(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * A token service as docker's token spec describes: RS256 JWTs with the signing certificate in
 * `x5c`, which the registry checks against `rootcertbundle`. Grants every action asked for.
 */
async function startTokenService(dir: string, pushUser?: { username: string; password: string }): Promise<TokenService> {
  const keyFile = path.join(dir, 'token-key.pem');
  const certFile = path.join(dir, 'token-cert.pem');
  await mustRun('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=ocitool-test-token']);
  const key = await readFile(keyFile, 'utf8');
  const certPem = await readFile(certFile, 'utf8');
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const service = 'ocitool-test-registry';
  const issuer = 'ocitool-test-issuer';
  const requests: TokenService['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const scope = scopes.length ? scopes.join(' ') : null;
    requests.push({ scope, withCredentials: Boolean(req.headers.authorization) });
    const expected = pushUser ? `Basic ${Buffer.from(`${pushUser.username}:${pushUser.password}`).toString('base64')}` : undefined;
    if (expected && req.headers.authorization && req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      return;
    }
    const mayPush = !pushUser || req.headers.authorization === expected;
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(':') as [string, string, string];
      return { type, name, actions: actions.split(',').filter((a) => mayPush || a === 'pull') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: '', aud: service, exp: now + 300, nbf: now - 30, iat: now, jti: randomUUID(), access };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    const token = `${signingInput}.${base64url(signature)}`;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** sha256 of `skopeo inspect --raw docker://…`: the digest the registry serves for a reference. */
export async function skopeoRawDigest(reference: string, extraArgs: string[] = []): Promise<string> {
  const raw = await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extraArgs, `docker://${reference}`]);
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

export { removeDir };
