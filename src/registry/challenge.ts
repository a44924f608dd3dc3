/** Parsing `WWW-Authenticate` challenges (RFC 7235) as registries send them. */

export interface Challenge {
  /** Lowercased: 'bearer' or 'basic'. */
  scheme: string;
  /** Parameters, keys lowercased: realm, service, scope, error. */
  params: Record<string, string>;
}

/** Parses one or more challenges; unknown schemes are kept so callers can name them in errors. */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  // scheme, then key=value or key="quoted, value" pairs separated by commas.
  const re = /\s*([A-Za-z][A-Za-z0-9_-]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*,?/gy;
  let current: Challenge | undefined;
  let m: RegExpExecArray | null;
  while (re.lastIndex < header.length && (m = re.exec(header)) !== null) {
    if (m[0] === '') break;
    const [, name, rawValue] = m as unknown as [string, string, string | undefined];
    if (rawValue === undefined) {
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
      // A scheme is followed by a space and its first parameter without a comma.
      continue;
    }
    const value = rawValue.startsWith('"') ? rawValue.slice(1, -1).replace(/\\(.)/g, '$1') : rawValue;
    if (current) current.params[name.toLowerCase()] = value;
  }
  return out;
}
