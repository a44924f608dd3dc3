/**
 * Transport names as skopeo writes them, for `copy SRC DST`: `docker://REF`, `oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME]`, `store:NAME`, and a bare name for the
 * store. Like skopeo, the path ends at the first colon after the prefix: what follows is the tag
 * (or, for docker-archive, the image name, which may hold colons itself).
 */
import { OcitoolError } from '../errors.js';

export type TransportName =
  | { transport: 'docker'; reference: string }
  | { transport: 'oci' | 'oci-archive'; path: string; tag?: string }
  | { transport: 'docker-archive'; path: string; name?: string }
  | { transport: 'store'; name: string };

const PREFIXES = ['docker://', 'oci:', 'oci-archive:', 'docker-archive:', 'store:'] as const;

export function parseTransportName(text: string): TransportName {
  if (text.startsWith('docker://')) {
    const reference = text.slice('docker://'.length);
    if (!reference) throw new OcitoolError('USAGE', `"${text}": docker:// needs an image reference`);
    return { transport: 'docker', reference };
  }
  for (const transport of ['oci', 'oci-archive', 'docker-archive'] as const) {
    if (!text.startsWith(`${transport}:`)) continue;
    const rest = text.slice(transport.length + 1);
    const colon = rest.indexOf(':');
    const path = colon < 0 ? rest : rest.slice(0, colon);
    const after = colon < 0 ? undefined : rest.slice(colon + 1);
    if (!path) throw new OcitoolError('USAGE', `"${text}": ${transport}: needs a ${transport === 'oci' ? 'folder' : 'file'}`);
    if (after === '') throw new OcitoolError('USAGE', `"${text}": empty ${transport === 'docker-archive' ? 'image name' : 'tag'} after the path`);
    if (transport === 'docker-archive') return { transport, path, ...(after ? { name: after } : {}) };
    return { transport, path, ...(after ? { tag: after } : {}) };
  }
  if (text.startsWith('store:')) {
    const name = text.slice('store:'.length);
    if (!name) throw new OcitoolError('USAGE', `"${text}": store: needs an image name`);
    return { transport: 'store', name };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) throw new OcitoolError('USAGE', `"${text}": unknown transport ${scheme[1]}:// (known: ${PREFIXES.join(', ')}, or a bare store name)`);
  return { transport: 'store', name: text };
}

/** How messages name a transport name (no credentials can be in one). */
export function describeTransportName(name: TransportName): string {
  switch (name.transport) {
    case 'docker':
      return `docker://${name.reference}`;
    case 'store':
      return `store:${name.name}`;
    case 'docker-archive':
      return `docker-archive:${name.path}${name.name ? `:${name.name}` : ''}`;
    default:
      return `${name.transport}:${name.path}${name.tag ? `:${name.tag}` : ''}`;
  }
}
