/**
 * A small HTTP proxy in front of the real registry for error-path tests. Faults are queued with a
 * request matcher and a count; matching requests get a corrupted byte, a body cut short, extra
 * bytes, a 429 with Retry-After, a 503, a connection dropped half-way or stalled, other headers, or a redirect
 * to a second port (which serves the request itself and records whether Authorization came).
 * Every request is logged, so tests can count blob requests and see Range and Authorization.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultKind = 'corrupt' | 'truncate' | 'extra' | 'rate-limit' | 'unavailable' | 'drop' | 'redirect' | 'headers' | 'body' | 'stall';

export interface Fault {
  kind: FaultKind;
  /** Which requests: blob GETs, manifest GETs, or a path test. */
  match: 'blob' | 'manifest' | ((path: string) => boolean);
  /** How many matching requests to affect (default 1). */
  times?: number;
  /** For rate-limit: the Retry-After seconds. */
  retryAfterSeconds?: number;
  /** For headers: headers to set on the upstream response. */
  headers?: Record<string, string>;
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
      if (f.left <= 0 || method !== 'GET') return false;
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
    const headers = { ...req.headers, host: `127.0.0.1:${this.upstreamPort}` };
    if (port === 'redirect' && this.redirectAuthorization) headers.authorization = this.redirectAuthorization;
    const upstream = http.request({ host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url, headers }, (up) => {
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
        // Half the body, then nothing: the client hangs until killed or the proxy stops.
        res.writeHead(up.statusCode ?? 200, headers);
        res.write(body.subarray(0, half));
        return;
      case 'headers':
        res.writeHead(up.statusCode ?? 200, { ...headers, ...fault.headers });
        res.end(body);
        return;
      case 'body': {
        delete headers['content-length'];
        res.writeHead(up.statusCode ?? 200, headers);
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
