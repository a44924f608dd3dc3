/**
 * One HTTP exchange with a registry host: node-fetch with keep-alive agents and no transparent
 * decompression (blob bytes must reach the verifier as sent), redirects followed by hand so that
 * `Authorization` never leaves the registry's origin and https never falls back to http.
 */
import http from 'node:http';
import https from 'node:https';
import { PassThrough } from 'node:stream';
import fetch, { type Response } from 'node-fetch';
import { OcitoolError, redact, withLaterFailure } from '../errors.js';

/** Registries chain at most a couple of redirects (registry to CDN); more means a loop. */
export const MAX_REDIRECTS = 10;

/**
 * How long one request may wait without progress. `--timeout SECONDS` sets all three; the
 * default (60 s) rides out a slow registry or CDN but never hangs a CI job for good.
 */
export interface Timeouts {
  /** TCP connect. */
  connectMs: number;
  /** From sending the request to the response headers (TLS handshake included). */
  headersMs: number;
  /** Between two chunks of a body while we are waiting for one (not while we are busy). */
  idleMs: number;
}

export const DEFAULT_TIMEOUT_SECONDS = 60;
export const DEFAULT_TIMEOUTS: Timeouts = timeoutsOf(DEFAULT_TIMEOUT_SECONDS);

/** The timeouts for `--timeout SECONDS`. */
export function timeoutsOf(seconds: number): Timeouts {
  const ms = Math.round(seconds * 1000);
  return { connectMs: ms, headersMs: ms, idleMs: ms };
}

/** "60 s", "1.5 s": a timeout as messages show it. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** Socket error code for a connect that did not complete in time. */
const CONNECT_TIMEOUT_CODE = 'ECONNECT_TIMEOUT';

type CreateConnection = (options: object, callback?: (err: Error | null, socket: unknown) => void) => import('node:net').Socket;

/** Keep-alive agents whose new sockets are destroyed when their TCP connect takes too long. */
function makeAgent<A extends http.Agent>(agent: A, connectMs: number): A {
  const create = (agent as unknown as { createConnection: CreateConnection }).createConnection.bind(agent);
  (agent as unknown as { createConnection: CreateConnection }).createConnection = (options, callback) => {
    const socket = create(options, callback);
    const timer = setTimeout(() => {
      socket.destroy(Object.assign(new Error(`no connection in ${formatSeconds(connectMs)}`), { code: CONNECT_TIMEOUT_CODE }));
    }, connectMs);
    const done = (): void => clearTimeout(timer);
    socket.once('connect', done);
    socket.once('close', done);
    return socket;
  };
  return agent;
}

const agents = new Map<number, { http: http.Agent; https: https.Agent }>();

function agentsFor(connectMs: number): { http: http.Agent; https: https.Agent } {
  let pair = agents.get(connectMs);
  if (!pair) {
    pair = {
      http: makeAgent(new http.Agent({ keepAlive: true, maxSockets: 16 }), connectMs),
      https: makeAgent(new https.Agent({ keepAlive: true, maxSockets: 16 }), connectMs),
    };
    agents.set(connectMs, pair);
  }
  return pair;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method?: HttpMethod;
  headers: Record<string, string>;
  timeouts?: Timeouts;
  /**
   * An upload body. A request with a body is never redirected by hand: a stream can be sent only
   * once, and an upload URL that redirects elsewhere is answered to the caller as it is.
   */
  body?: Buffer | NodeJS.ReadableStream;
}

/** A response and the URL it finally came from (after redirects). */
export interface HttpResult {
  response: Response;
  url: URL;
}

/** Sends one request, following redirects safely; throws NETWORK on connection errors. */
export async function sendRequest(url: URL, request: HttpRequest): Promise<HttpResult> {
  const origin = url.origin;
  let current = url;
  const headers = { ...request.headers };
  for (let hop = 0; ; hop++) {
    const response = await fetchOnce(current, request.method ?? 'GET', headers, request.timeouts ?? DEFAULT_TIMEOUTS, request.body);
    const location = response.headers.get('location');
    if (![301, 302, 303, 307, 308].includes(response.status) || !location || request.body !== undefined) return { response, url: current };
    discard(response);
    if (hop >= MAX_REDIRECTS) throw new OcitoolError('REGISTRY', `${safeUrl(url)}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new OcitoolError('REGISTRY', `${safeUrl(url)}: redirect to unsupported scheme ${next.protocol}`);
    if (current.protocol === 'https:' && next.protocol === 'http:') {
      throw new OcitoolError('REGISTRY', `${safeUrl(url)}: refusing redirect from https to plain http (${safeUrl(next)})`);
    }
    // Blob redirects point at CDNs or object stores with signed URLs: our credentials are not theirs.
    if (next.origin !== origin) delete headers.Authorization;
    current = next;
  }
}

async function fetchOnce(url: URL, method: string, headers: Record<string, string>, timeouts: Timeouts, body?: Buffer | NodeJS.ReadableStream): Promise<Response> {
  const controller = new AbortController();
  // Covers connect too: a connect that hangs for headersMs is cut here if connectMs is longer.
  const timer = setTimeout(() => controller.abort(), timeouts.headersMs);
  const pair = agentsFor(timeouts.connectMs);
  // An upload body takes as long as it takes: the clock restarts with every chunk sent, so it
  // measures the wait for the answer after the last byte (and a peer that stops reading).
  const sent = body !== undefined && !Buffer.isBuffer(body) ? refreshing(body, timer) : body;
  try {
    return await fetch(url.href, {
      method,
      headers,
      ...(sent !== undefined ? { body: sent } : {}),
      redirect: 'manual',
      compress: false,
      signal: controller.signal as never,
      agent: (u: URL) => (u.protocol === 'http:' ? pair.http : pair.https),
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).name;
    const why = controller.signal.aborted
      ? `no response for ${formatSeconds(timeouts.headersMs)}`
      : code === CONNECT_TIMEOUT_CODE
        ? `no connection in ${formatSeconds(timeouts.connectMs)}`
        : `connection failed (${code})`;
    throw new OcitoolError('NETWORK', `${safeUrl(url)}: ${why}`, { cause: err });
  } finally {
    // The headers are in: from here the body is watched by the reader's idle timeout.
    clearTimeout(timer);
  }
}

/** `body` passed through, restarting `timer` whenever a chunk goes by; errors travel along. */
function refreshing(body: NodeJS.ReadableStream, timer: NodeJS.Timeout): NodeJS.ReadableStream {
  const through = new PassThrough({
    transform(chunk: Buffer, _enc, done) {
      timer.refresh();
      done(null, chunk);
    },
  });
  body.on('error', (err: Error) => through.destroy(err));
  body.pipe(through);
  return through;
}

/** The error an idle body fails with; `seconds` as messages show it. */
export class IdleTimeoutError extends OcitoolError {
  constructor(idleMs: number) {
    super('NETWORK', `no data for ${formatSeconds(idleMs)}`);
  }
}

/**
 * A body's chunks, failing with IdleTimeoutError when the peer sends nothing for `idleMs` while
 * we wait for the next chunk. The clock runs only while we wait, so a slow consumer (disk, hash)
 * never counts against the peer. On timeout the body is destroyed, freeing its socket.
 */
export async function* idleGuarded(body: AsyncIterable<Buffer> & { destroy(err?: Error): void }, idleMs: number): AsyncGenerator<Buffer> {
  const iterator = body[Symbol.asyncIterator]();
  let failure: { err: unknown } | undefined;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const next = iterator.next();
      const idle = new Promise<'idle'>((resolve) => {
        timer = setTimeout(() => resolve('idle'), idleMs);
      });
      let step: IteratorResult<Buffer> | 'idle';
      try {
        step = await Promise.race([next, idle]);
      } finally {
        clearTimeout(timer);
      }
      if (step === 'idle') {
        // The body is destroyed with the timeout itself, so the pending read fails with that same
        // error; it is awaited, and anything else it fails with is said with the timeout.
        const timeout = new IdleTimeoutError(idleMs);
        body.destroy(timeout);
        const late = await next.then(() => undefined, (err: unknown) => err);
        if (late !== undefined && late !== timeout) timeout.message += ` (and the read failed: ${late instanceof Error ? late.message : String(late)})`;
        throw timeout;
      }
      if (step.done) return;
      yield step.value;
    }
  } catch (err) {
    failure = { err };
    throw err;
  } finally {
    // Stopped early (error, cap reached, consumer gone): release the socket. A failure to close
    // is reported, with the failure that stopped us when there is one.
    try {
      await iterator.return?.();
    } catch (closeErr) {
      throw failure ? withLaterFailure(failure.err, closeErr, 'closing the response body') : closeErr;
    }
  }
}

/**
 * Reads at most `cap` bytes of a body (one more, so callers can tell "too large"), then drops the
 * rest; fails with IdleTimeoutError when the peer stalls for `idleMs`.
 */
export async function readSmall(response: Response, cap: number, idleMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const body = response.body as unknown as (AsyncIterable<Buffer> & { destroy(): void }) | null;
  if (!body) return Buffer.alloc(0);
  for await (const chunk of idleGuarded(body, idleMs)) {
    const take = Math.min(chunk.length, cap + 1 - total);
    chunks.push(chunk.subarray(0, take));
    total += take;
    if (total > cap) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks);
}

/** Drops a response body we will not read, so its socket goes back to the pool. */
export function discard(response: Response): void {
  const body = response.body as NodeJS.ReadableStream & { resume?: () => void; on?: (e: string, f: () => void) => void } | null;
  if (!body) return;
  body.on?.('error', () => {});
  body.resume?.();
}

/** A URL as shown in messages: no query (signed URLs carry secrets there), no user info. */
export function safeUrl(url: URL): string {
  return redact(`${url.protocol}//${url.host}${url.pathname}`);
}
