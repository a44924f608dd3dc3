/**
 * Where a registry's API is reached: Docker Hub's API host, the scheme (plain HTTP only for
 * loopback hosts, as docker allows, or with --plain-http), and the mirrors tried first for
 * Docker Hub images (DOCKERHUB_PUBLIC_PROXY, --registry-mirror).
 */
import { OcitoolError } from '../errors.js';
import { DEFAULT_REGISTRY, DOCKER_HUB_API_HOST } from '../oci/reference.js';

/** One base URL to send distribution-spec requests to. */
export interface Endpoint {
  /** The registry as users write it (docker.io, localhost:5000): credentials are looked up by it. */
  registry: string;
  /** Scheme, host and port, no trailing slash: https://registry-1.docker.io. */
  baseUrl: string;
  /** Mirrors are tried without credentials and fall back to the next endpoint on any failure. */
  mirror: boolean;
}

export interface EndpointOptions {
  /** Allow http:// for non-loopback registries (--plain-http). */
  plainHttp?: boolean;
  /** --registry-mirror URLs, tried in order before Docker Hub. */
  mirrors?: string[];
  /** Environment to read DOCKERHUB_PUBLIC_PROXY from. */
  env?: NodeJS.ProcessEnv;
}

/** Docker Hub's API host differs from the name users write. */
export function apiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}

/** True for localhost, 127.0.0.0/8 and ::1, with or without a port: docker allows plain HTTP there. */
export function isLoopbackHost(hostWithPort: string): boolean {
  const host = hostWithPort.startsWith('[') ? hostWithPort.slice(1, hostWithPort.indexOf(']')) : hostWithPort.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The scheme for a registry host: https, or http for loopback hosts and with --plain-http. */
export function schemeFor(registry: string, plainHttp = false): 'http' | 'https' {
  return plainHttp || isLoopbackHost(registry) ? 'http' : 'https';
}

/** Endpoints for a registry, mirrors first (Docker Hub only, like dockerd's registry-mirrors). */
export function endpointsFor(registry: string, options: EndpointOptions = {}): Endpoint[] {
  const out: Endpoint[] = [];
  if (registry === DEFAULT_REGISTRY) {
    const env = options.env ?? process.env;
    const mirrors = [...(env.DOCKERHUB_PUBLIC_PROXY ? [env.DOCKERHUB_PUBLIC_PROXY] : []), ...(options.mirrors ?? [])];
    for (const m of mirrors) out.push({ registry, baseUrl: mirrorBaseUrl(m, options.plainHttp), mirror: true });
  }
  out.push({ registry, baseUrl: `${schemeFor(registry, options.plainHttp)}://${apiHost(registry)}`, mirror: false });
  return out;
}

/** A mirror given as a URL or a bare host; the scheme rules apply to it as to any registry. */
export function mirrorBaseUrl(text: string, plainHttp = false): string {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `${schemeFor(text.split('/')[0]!, plainHttp)}://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new OcitoolError('USAGE', `invalid registry mirror "${text}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OcitoolError('USAGE', `invalid registry mirror "${text}": http or https only`);
  if (url.protocol === 'http:' && !plainHttp && !isLoopbackHost(url.host)) {
    throw new OcitoolError('USAGE', `registry mirror ${url.host} uses plain http: allowed only for localhost or with --plain-http`);
  }
  if (url.username || url.password) throw new OcitoolError('USAGE', 'registry mirror URLs must not hold credentials');
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '').replace(/\/v2$/, '')}`;
}
