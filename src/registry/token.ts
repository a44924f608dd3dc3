/**
 * Bearer tokens from a registry's token service (docker's token auth spec), cached per realm,
 * service, scope and user until shortly before they expire.
 */
import { OcitoolError } from '../errors.js';
import type { Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import { discard, sendRequest } from './http.js';

/** Tokens are small JSON documents; refuse anything larger. */
const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024;
/** The token spec's default lifetime when the service names none. */
const DEFAULT_TOKEN_SECONDS = 60;
/** Renew this long before expiry so a token does not lapse between check and use. */
const EXPIRY_MARGIN_MS = 5_000;

interface CachedToken {
  token: string;
  expiresAt: number;
}

const cache = new Map<string, CachedToken>();

/** A token for `scope`, from the cache or the challenge's realm (with basic credentials if any). */
export async function obtainToken(challenge: Challenge, scope: string, credentials: Credentials | undefined): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm) throw new OcitoolError('AUTH', 'bearer challenge without a realm');
  const service = challenge.params.service ?? '';
  const key = JSON.stringify([realm, service, scope, credentials?.username ?? '']);
  const hit = cache.get(key);
  if (hit && hit.expiresAt > Date.now()) return hit.token;

  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new OcitoolError('AUTH', 'bearer challenge with an invalid realm URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OcitoolError('AUTH', `token realm ${url.host} uses unsupported scheme ${url.protocol}`);
  if (service) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (credentials) headers.Authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  const started = Date.now();
  const { response } = await sendRequest(url, { headers });
  const where = `token service ${url.host}`;
  if (response.status === 401 || response.status === 403) {
    discard(response);
    throw new OcitoolError('AUTH', `${where}: ${credentials ? 'credentials rejected' : 'anonymous access refused'} (HTTP ${response.status}) for ${scope}`);
  }
  if (response.status !== 200) {
    discard(response);
    throw new OcitoolError('AUTH', `${where}: HTTP ${response.status} for ${scope}`);
  }
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_TOKEN_RESPONSE_BYTES) {
    discard(response);
    throw new OcitoolError('AUTH', `${where}: answer too large`);
  }
  const raw = Buffer.from(await response.arrayBuffer());
  if (raw.length > MAX_TOKEN_RESPONSE_BYTES) throw new OcitoolError('AUTH', `${where}: answer too large`);
  let body: { token?: string; access_token?: string; expires_in?: number };
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new OcitoolError('AUTH', `${where}: answer is not JSON`);
  }
  const token = body.token ?? body.access_token;
  if (!token || typeof token !== 'string') throw new OcitoolError('AUTH', `${where}: answer holds no token`);
  const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
  cache.set(key, { token, expiresAt: started + seconds * 1000 - EXPIRY_MARGIN_MS });
  return token;
}

/** Forgets a token the registry refused before its stated expiry. */
export function forgetToken(challenge: Challenge, scope: string, credentials: Credentials | undefined): void {
  cache.delete(JSON.stringify([challenge.params.realm, challenge.params.service ?? '', scope, credentials?.username ?? '']));
}
