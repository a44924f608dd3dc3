/**
 * A small HTTP proxy in front of the real registry for error-path tests. Faults are queued with a
 * request matcher and a count; matching requests get a corrupted byte, a body cut short, extra
 * bytes, a 429 with Retry-After, a 503, a connection dropped half-way or stalled, no answer at all,
 * other headers or status, or a redirect to a second port (which serves the request itself, or
 * answers 401 with its own challenge like a CDN with its own auth, and records whether
 * Authorization came). Every request is logged, so tests can count blob requests and see Range
 * and Authorization. `RecordingRealm` is a token endpoint that records the Authorization it got.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultKind = 'corrupt' | 'truncate' | 'extra' | 'rate-limit' | 'unavailable' | 'drop' | 'redirect' | 'headers' | 'body' | 'stall' | 'hang' | 'drop-upload';

export interface Fault {
  kind: FaultKind;
  /** Which requests: blob GETs, manifest GETs, or a path test. */
  match: 'blob' | 'manifest' | ((path: string) => boolean);
  /** How many matching requests to affect (default 1). */
  times?: number;
  /** The request method to match (default GET). */
  method?: string;
  /**
   * For drop-upload (an upload whose connection breaks): half of the request body goes to the
   * registry, then both connections are cut, as a network failure mid-PATCH or mid-PUT would.
   */
  /** For rate-limit: the Retry-After seconds. */
  retryAfterSeconds?: number;
  /** For headers and body: headers to set on the upstream response. */
  headers?: Record<string, string>;
  /** For headers and body: the status to answer with instead of upstream's. */
  status?: number;
  /** For body: the bytes served instead of the upstream body (sent chunked, no Content-Length). */
  body?: Buffer;
}

export interface LoggedRequest {
  /** 'main' or 'redirect' (the second port). */
  port: 'main' | 'redirect';
  method: string;
  path: string;
  authorization: boolean;
  range?: string;
}

const BLOB_PATH = /^\/v2\/.+\/blobs\/[a-z0-9]+:[a-f0-9]+$/;
const MANIFEST_PATH = /^\/v2\/.+\/manifests\/[^/]+$/;

export class FaultProxy {
  readonly log: LoggedRequest[] = [];
  private faults: (Fault & { left: number })[] = [];
  private main!: http.Server;
  private second!: http.Server;
  port = 0;
  redirectPort = 0;
  /** Authorization the redirect port adds upstream, as a CDN with its own access would. */
  redirectAuthorization: string | undefined;
  /** When set, the redirect port answers every request 401 with this WWW-Authenticate. */
  redirectChallenge: string | undefined;

  private constructor(private readonly upstreamPort: number) {}

  /** Starts both listeners on 127.0.0.1 in front of the registry at `upstreamPort`. */
  static async start(upstreamPort: number): Promise<FaultProxy> {
    const proxy = new FaultProxy(upstreamPort);
    proxy.main = http.createServer((req, res) => proxy.handle(req, res, 'main'));
    proxy.second = http.createServer((req, res) => proxy.handle(req, res, 'redirect'));
    proxy.port = await listen(proxy.main);
    proxy.redirectPort = await listen(proxy.second);
    return proxy;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** GET requests for blobs at either port. */
  get blobRequests(): number {
    return this.log.filter((r) => r.method === 'GET' && BLOB_PATH.test(r.path)).length;
  }

  addFault(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clear(): void {
    this.faults = [];
    this.log.length = 0;
  }

  async stop(): Promise<void> {
    this.main.closeAllConnections();
    this.second.closeAllConnections();
    await Promise.all([new Promise((r) => this.main.close(r)), new Promise((r) => this.second.close(r))]);
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const fault = this.faults.find((f) => {
      if (f.left <= 0 || method !== (f.method ?? 'GET')) return false;
      if (f.match === 'blob') return BLOB_PATH.test(path);
      if (f.match === 'manifest') return MANIFEST_PATH.test(path);
      return f.match(path);
    });
    if (fault) (fault as { left: number }).left--;
    return fault;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, port: 'main' | 'redirect'): void {
    const path = (req.url ?? '/').split('?')[0]!;
    this.log.push({ port, method: req.method ?? 'GET', path, authorization: Boolean(req.headers.authorization), range: req.headers.range });
    const fault = port === 'main' ? this.takeFault(req.method ?? 'GET', path) : undefined;
    if (fault?.kind === 'hang') return; // Connection accepted, request read, no answer ever.
    if (port === 'redirect' && this.redirectChallenge) {
      res.writeHead(401, { 'www-authenticate': this.redirectChallenge, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"cdn auth"}]}');
      return;
    }
    if (fault?.kind === 'rate-limit') {
      res.writeHead(429, { 'retry-after': String(fault.retryAfterSeconds ?? 1), 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      return;
    }
    if (fault?.kind === 'unavailable') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('unavailable');
      return;
    }
    if (fault?.kind === 'redirect') {
      res.writeHead(307, { location: `http://127.0.0.1:${this.redirectPort}${req.url}` });
      res.end();
      return;
    }
    if (fault?.kind === 'drop-upload') {
      this.dropUpload(req, res);
      return;
    }
    const headers = { ...req.headers, host: `127.0.0.1:${this.upstreamPort}` };
    if (port === 'redirect' && this.redirectAuthorization) headers.authorization = this.redirectAuthorization;
    const upstream = http.request({ host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url, headers }, (up) => {
      // Upload sessions name the registry's own address in Location: keep the client on the proxy.
      const upstreamOrigin = `http://127.0.0.1:${this.upstreamPort}`;
      if (up.headers.location?.startsWith(upstreamOrigin)) up.headers.location = `http://127.0.0.1:${port === 'main' ? this.port : this.redirectPort}${up.headers.location.slice(upstreamOrigin.length)}`;
      if (!fault) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => this.answerWithFault(fault, up, Buffer.concat(chunks), res));
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }

  /** Sends the first half of the request body upstream, then cuts both connections. */
  private dropUpload(req: http.IncomingMessage, res: http.ServerResponse): void {
    const half = Math.floor(Number(req.headers['content-length'] ?? 0) / 2);
    const headers = { ...req.headers, host: `127.0.0.1:${this.upstreamPort}` };
    const upstream = http.request({ host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url, headers });
    upstream.on('error', () => {}); // Cut on purpose: its error is the point of the fault.
    upstream.flushHeaders();
    let sent = 0;
    let cut = false;
    req.on('data', (chunk: Buffer) => {
      if (cut) return;
      const take = Math.min(chunk.length, half - sent);
      if (take > 0) upstream.write(chunk.subarray(0, take));
      sent += take;
      if (sent >= half) {
        cut = true;
        setTimeout(() => {
          upstream.destroy();
          res.socket?.destroy();
        }, 50);
      }
    });
  }

  private answerWithFault(fault: Fault, up: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const headers = { ...up.headers };
    const half = Math.floor(body.length / 2);
    switch (fault.kind) {
      case 'corrupt': {
        const copy = Buffer.from(body);
        copy[half] = copy[half]! ^ 0xff;
        res.writeHead(up.statusCode ?? 200, headers);
        res.end(copy);
        return;
      }
      case 'truncate':
        res.writeHead(up.statusCode ?? 200, { ...headers, 'content-length': String(half) });
        res.end(body.subarray(0, half));
        return;
      case 'extra': {
        const more = Buffer.concat([body, Buffer.alloc(4096, 0x41)]);
        res.writeHead(up.statusCode ?? 200, { ...headers, 'content-length': String(more.length) });
        res.end(more);
        return;
      }
      case 'drop':
        // Full Content-Length promised, half sent, then the socket is cut.
        res.writeHead(up.statusCode ?? 200, headers);
        res.write(body.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      case 'stall':
        // Half the body, then nothing: the client waits until its idle timeout or the proxy stops.
        res.writeHead(up.statusCode ?? 200, headers);
        res.write(body.subarray(0, half));
        return;
      case 'headers':
        res.writeHead(fault.status ?? up.statusCode ?? 200, { ...headers, ...fault.headers });
        res.end(body);
        return;
      case 'body': {
        delete headers['content-length'];
        delete headers['docker-content-digest'];
        res.writeHead(fault.status ?? up.statusCode ?? 200, { ...headers, ...fault.headers });
        res.end(fault.body);
        return;
      }
      default:
        res.writeHead(up.statusCode ?? 200, headers);
        res.end(body);
    }
  }
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export interface RealmRequest {
  /** The Authorization header as received, or undefined. */
  authorization: string | undefined;
  scope: string | null;
}

/**
 * A token endpoint on 127.0.0.1 that records what it was sent. It answers a token (any registry
 * without auth ignores it), refuses requests without Authorization when `requireAuth`, or streams
 * an endless token answer (`endlessBytes`, chunked, until the client hangs up) for size caps.
 */
export class RecordingRealm {
  readonly requests: RealmRequest[] = [];
  requireAuth = false;
  /** When set, answers 200 with a body of this many bytes (a never-ending JSON string) instead of a token. */
  endlessBytes: number | undefined;
  /** Bytes actually written for the last endless answer, and whether the client hung up first. */
  endlessWritten = 0;
  private server!: http.Server;
  port = 0;

  static async start(): Promise<RecordingRealm> {
    const realm = new RecordingRealm();
    realm.server = http.createServer((req, res) => realm.handle(req, res));
    realm.port = await listen(realm.server);
    return realm;
  }

  /** The realm URL, on `host` (another name for 127.0.0.1, such as localhost, makes it "another host"). */
  url(host = '127.0.0.1'): string {
    return `http://${host}:${this.port}/token`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    this.requests.push({ authorization: req.headers.authorization, scope: url.searchParams.get('scope') });
    if (this.requireAuth && !req.headers.authorization) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (this.endlessBytes === undefined) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'recorded-realm-token', expires_in: 300 }));
      return;
    }
    const limit = this.endlessBytes;
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    this.endlessWritten = 0;
    let closed = false;
    res.on('close', () => (closed = true));
    const pump = (): void => {
      if (this.endlessWritten === 0) {
        res.write('{"token":"');
        this.endlessWritten = 10;
      }
      while (!closed && this.endlessWritten < limit) {
        this.endlessWritten += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!closed) res.end('"}');
    };
    pump();
  }
}

/**
 * A listening port that never accepts, with its one-slot backlog already taken: new connections
 * stay in SYN_SENT, as to a host that drops packets. Node always accepts, so a python3 process
 * holds the socket; `stop` ends it.
 */
export class UnacceptingPort {
  private constructor(
    readonly port: number,
    private readonly child: import('node:child_process').ChildProcess,
    private readonly filler: import('node:net').Socket,
  ) {}

  static async start(): Promise<UnacceptingPort> {
    const { spawn } = await import('node:child_process');
    const net = await import('node:net');
    const script = "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()";
    const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    const filler = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      filler.once('connect', resolve);
      filler.once('error', reject);
    });
    return new UnacceptingPort(port, child, filler);
  }

  async stop(): Promise<void> {
    this.filler.destroy();
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    await exited;
  }
}
