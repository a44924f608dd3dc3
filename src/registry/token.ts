/**
 * Bearer tokens from a registry's token service (docker's token auth spec), cached per realm,
 * service, scope and user until shortly before they expire.
 */
import { OcitoolError } from '../errors.js';
import type { Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import { isLoopbackHost } from './endpoints.js';
import { discard, readSmall, sendRequest, type Timeouts } from './http.js';

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

/** Where a token is asked for: the registry's endpoint and the limits that apply to its requests. */
export interface TokenContext {
  /** The registry endpoint's base URL (scheme, host, port). */
  registryUrl: URL;
  /** --plain-http was given for this registry. */
  plainHttp: boolean;
  timeouts: Timeouts;
}

/**
 * Why the user's credentials must not go to `realm`, or undefined when they may. Over https they
 * always may. Over plain http only when the realm has the registry's host name (ports may differ:
 * a token service next to the registry) and that registry is itself reached over plain http by
 * the user's choice (loopback, or --plain-http). The comparison is by name, not by address:
 * `localhost` and `127.0.0.1` are different hosts here, so a realm elsewhere is refused even when
 * both names are loopback.
 */
export function credentialRefusal(realm: URL, context: Pick<TokenContext, 'registryUrl' | 'plainHttp'>): string | undefined {
  if (realm.protocol === 'https:') return undefined;
  const registry = context.registryUrl;
  if (realm.hostname !== registry.hostname) return `token realm ${realm.host} is plain http on another host than registry ${registry.host}`;
  if (registry.protocol === 'http:' && (context.plainHttp || isLoopbackHost(registry.host))) return undefined;
  return `token realm ${realm.host} is plain http and registry ${registry.host} is not (use --plain-http to allow it)`;
}

/** The realm URL of a bearer challenge, checked; errors name the realm. */
export function realmUrl(challenge: Challenge): URL {
  const realm = challenge.params.realm;
  if (!realm) throw new OcitoolError('AUTH', 'bearer challenge without a realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new OcitoolError('AUTH', 'bearer challenge with an invalid realm URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OcitoolError('AUTH', `token realm ${url.host} uses unsupported scheme ${url.protocol}`);
  if (url.username || url.password) throw new OcitoolError('AUTH', `token realm ${url.host}: realm URLs must not hold credentials`);
  return url;
}

/**
 * A token for `scope`, from the cache or the challenge's realm, with basic credentials when there
 * are some and `credentialRefusal` allows it (else anonymously, and failures say why).
 */
export async function obtainToken(challenge: Challenge, scope: string, credentials: Credentials | undefined, context: TokenContext): Promise<string> {
  const url = realmUrl(challenge);
  const refusal = credentials ? credentialRefusal(url, context) : undefined;
  const sent = refusal ? undefined : credentials;
  const service = challenge.params.service ?? '';
  const key = cacheKey(challenge, scope, sent);
  const hit = cache.get(key);
  if (hit && hit.expiresAt > Date.now()) return hit.token;

  if (service) url.searchParams.set('service', service);
  // Several scopes (push to one repository, pull from a mount source) go as one parameter each.
  for (const one of scope.split(' ')) url.searchParams.append('scope', one);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (sent) headers.Authorization = `Basic ${Buffer.from(`${sent.username}:${sent.password}`).toString('base64')}`;
  const started = Date.now();
  const where = `token service ${url.host}`;
  const withheld = refusal ? ` (credentials not sent: ${refusal})` : '';
  const { response, url: answeredBy } = await sendRequest(url, { headers, timeouts: context.timeouts });
  if (response.status === 401 || response.status === 403) {
    discard(response);
    const from = answeredBy.host !== url.host ? ` from ${answeredBy.host}` : '';
    throw new OcitoolError('AUTH', `${where}: ${sent ? 'credentials rejected' : 'anonymous access refused'} (HTTP ${response.status}${from}) for ${scope}${withheld}`);
  }
  if (response.status !== 200) {
    discard(response);
    throw new OcitoolError('AUTH', `${where}: HTTP ${response.status} for ${scope}${withheld}`);
  }
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_TOKEN_RESPONSE_BYTES) {
    discard(response);
    throw new OcitoolError('AUTH', `${where}: answer of ${length} bytes is over the ${MAX_TOKEN_RESPONSE_BYTES}-byte limit for tokens`);
  }
  let raw: Buffer;
  try {
    raw = await readSmall(response, MAX_TOKEN_RESPONSE_BYTES, context.timeouts.idleMs);
  } catch (err) {
    throw new OcitoolError('NETWORK', `${where}: ${(err as Error).message}`, { cause: err });
  }
  if (raw.length > MAX_TOKEN_RESPONSE_BYTES) throw new OcitoolError('AUTH', `${where}: answer is over the ${MAX_TOKEN_RESPONSE_BYTES}-byte limit for tokens`);
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    // Never echo the parse error: it may quote part of a token.
    throw new OcitoolError('AUTH', `${where}: answer is not JSON`);
  }
  const token = body?.token ?? body?.access_token;
  if (!token || typeof token !== 'string') throw new OcitoolError('AUTH', `${where}: answer holds no token${withheld}`);
  const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
  cache.set(key, { token, expiresAt: started + seconds * 1000 - EXPIRY_MARGIN_MS });
  return token;
}

function cacheKey(challenge: Challenge, scope: string, sent: Credentials | undefined): string {
  return JSON.stringify([challenge.params.realm, challenge.params.service ?? '', scope, sent?.username ?? '']);
}

/** Forgets a token the registry refused before its stated expiry. */
export function forgetToken(challenge: Challenge, scope: string, credentials: Credentials | undefined, context: Pick<TokenContext, 'registryUrl' | 'plainHttp'>): void {
  let sent = credentials;
  try {
    if (credentials && credentialRefusal(realmUrl(challenge), context)) sent = undefined;
  } catch {
    // An invalid realm was never asked, so nothing of it is cached.
    return;
  }
  cache.delete(cacheKey(challenge, scope, sent));
}
