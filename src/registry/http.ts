/**
 * One HTTP exchange with a registry host: node-fetch with keep-alive agents and no transparent
 * decompression (blob bytes must reach the verifier as sent), redirects followed by hand so that
 * `Authorization` never leaves the registry's origin and https never falls back to http.
 */
import http from 'node:http';
import https from 'node:https';
import fetch, { type Response } from 'node-fetch';
import { OcitoolError, redact } from '../errors.js';

/** Registries chain at most a couple of redirects (registry to CDN); more means a loop. */
export const MAX_REDIRECTS = 10;
/** Time to wait for response headers; bodies are bounded by size and resumed instead. */
export const HEADERS_TIMEOUT_MS = 120_000;

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });

export interface HttpRequest {
  method?: 'GET' | 'HEAD';
  headers: Record<string, string>;
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
    const response = await fetchOnce(current, request.method ?? 'GET', headers);
    const location = response.headers.get('location');
    if (![301, 302, 303, 307, 308].includes(response.status) || !location) return { response, url: current };
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

async function fetchOnce(url: URL, method: string, headers: Record<string, string>): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), HEADERS_TIMEOUT_MS);
  try {
    return await fetch(url.href, {
      method,
      headers,
      redirect: 'manual',
      compress: false,
      signal: controller.signal as never,
      agent: (u: URL) => (u.protocol === 'http:' ? httpAgent : httpsAgent),
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).name;
    throw new OcitoolError('NETWORK', `${safeUrl(url)}: ${controller.signal.aborted ? 'no response in time' : `connection failed (${code})`}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
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
