/** Platforms: parsing OS/ARCH[/VARIANT], bashbrew architecture names, the host's platform, matching. */
import { OcitoolError } from '../errors.js';
import type { Platform } from './schemas.js';

export type { Platform } from './schemas.js';

/** bashbrew's architecture names (official-images) and the OCI platforms they stand for. */
export const BASHBREW_ARCHES: Record<string, Platform> = {
  amd64: { os: 'linux', architecture: 'amd64' },
  arm32v5: { os: 'linux', architecture: 'arm', variant: 'v5' },
  arm32v6: { os: 'linux', architecture: 'arm', variant: 'v6' },
  arm32v7: { os: 'linux', architecture: 'arm', variant: 'v7' },
  arm64v8: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  i386: { os: 'linux', architecture: '386' },
  mips64le: { os: 'linux', architecture: 'mips64le' },
  ppc64le: { os: 'linux', architecture: 'ppc64le' },
  riscv64: { os: 'linux', architecture: 'riscv64' },
  s390x: { os: 'linux', architecture: 's390x' },
  'windows-amd64': { os: 'windows', architecture: 'amd64' },
};

/**
 * Architecture spellings and what they mean, after containerd's platform normalization
 * (github.com/containerd/platforms, normalizeArch): uname -m and Debian names to Go/OCI names.
 * A variant here is implied by the alias (armhf is arm/v7) and overrides none given by the user.
 */
const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' },
  i686: { architecture: '386' },
};

/** Architectures Go (and so OCI) knows; a single word is taken as an architecture only if listed. */
const KNOWN_ARCHES = new Set(['386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm']);

const OS_ALIASES: Record<string, string> = { macos: 'darwin' };

/** Variant spellings to the canonical "vN" form, per architecture. */
function normalizeVariant(architecture: string, variant: string | undefined): string | undefined {
  if (variant === undefined || variant === '') return undefined;
  const v = variant.toLowerCase();
  if (architecture === 'arm64') {
    if (v === '8' || v === 'v8' || v === 'v8.0') return 'v8';
    if (v === '9' || v === '9.0' || v === 'v9.0') return 'v9';
  }
  if (architecture === 'arm' && /^[5-8]$/.test(v)) return `v${v}`;
  // amd64 v1 is the baseline every amd64 machine runs: containerd writes it as no variant.
  if (architecture === 'amd64' && v === 'v1') return undefined;
  return v;
}

/**
 * A platform in canonical spelling: lower case, aliases resolved (aarch64 → arm64, x86_64 →
 * amd64, armhf → arm/v7, i686 → 386, macos → darwin), variants as vN. Variants that are the
 * default (arm64 v8, arm v7) are kept if given and not added if not: matching treats both alike.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = OS_ALIASES[p.os.toLowerCase()] ?? p.os.toLowerCase();
  const lower = p.architecture.toLowerCase();
  const alias = ARCH_ALIASES[lower];
  const architecture = alias?.architecture ?? lower;
  const variant = normalizeVariant(architecture, p.variant ?? alias?.variant);
  const { variant: _dropped, ...rest } = p;
  return { ...rest, os, architecture, ...(variant ? { variant } : {}) };
}

const PART = /^[a-z0-9._-]+$/i;
const EXAMPLES = 'e.g. linux/arm64, linux/arm/v7, arm64, aarch64, x86_64, arm64v8';

/**
 * Parses OS/ARCH[/VARIANT], or a single architecture (OS linux): Go names (arm64), their common
 * aliases (aarch64, x86_64, armhf, armel, i686) and bashbrew names (arm64v8, arm32v7, i386).
 */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.length > 3 || parts.some((p) => !PART.test(p))) {
    throw new OcitoolError('USAGE', `invalid platform "${text}": expected OS/ARCH[/VARIANT] or ARCH, ${EXAMPLES}`);
  }
  if (parts.length === 1) {
    const word = parts[0]!.toLowerCase();
    const bashbrew = BASHBREW_ARCHES[word];
    if (bashbrew) return { ...bashbrew };
    const p = normalizePlatform({ os: 'linux', architecture: word });
    if (KNOWN_ARCHES.has(p.architecture)) return p;
    const isOs = ['linux', 'windows', 'darwin', 'freebsd', 'macos'].includes(word);
    throw new OcitoolError('USAGE', `invalid platform "${text}": ${isOs ? 'an OS alone names no architecture' : 'not a known architecture'}; expected OS/ARCH[/VARIANT] or ARCH, ${EXAMPLES}`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

/**
 * A comma-separated list of platforms (`linux/amd64,linux/arm64`, `amd64,arm64v8`), as docker
 * buildx and regctl take it; repeated entries are kept once, in order of first appearance.
 */
export function parsePlatformList(text: string): Platform[] {
  const items = text.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw new OcitoolError('USAGE', `invalid platform list "${text}": an empty entry; separate platforms with single commas, e.g. linux/amd64,linux/arm64`);
  }
  const out: Platform[] = [];
  for (const item of items) {
    const p = parsePlatform(item);
    if (!out.some((q) => samePlatform(q, p))) out.push(p);
  }
  return out;
}

/** Platforms from repeatable flags that may each hold a comma list. */
export function parsePlatformFlags(values: string[]): Platform[] {
  const out: Platform[] = [];
  for (const p of values.flatMap(parsePlatformList)) if (!out.some((q) => samePlatform(q, p))) out.push(p);
  return out;
}

export function platformFromArch(arch: string): Platform {
  const platform = BASHBREW_ARCHES[arch];
  if (!platform) {
    throw new OcitoolError('USAGE', `unknown architecture "${arch}": one of ${Object.keys(BASHBREW_ARCHES).join(', ')}`);
  }
  return platform;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The bashbrew name of a platform, or undefined when bashbrew has none. */
export function bashbrewArch(p: Platform): string | undefined {
  for (const [name, candidate] of Object.entries(BASHBREW_ARCHES)) {
    if (platformMatches(p, candidate)) return name;
  }
  return undefined;
}

export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips64el: 'mips64le' };
  const architecture = arch[process.arch] ?? process.arch;
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>)['arm_version'];
    return { os, architecture, variant: `v${v ?? 7}` };
  }
  return { os, architecture };
}

// Variants a platform has when it names none, as containerd's platform matcher assumes.
function normalVariant(p: Platform): string | undefined {
  if (p.variant) return p.variant;
  if (p.architecture === 'arm64') return 'v8';
  if (p.architecture === 'arm') return 'v7';
  return undefined;
}

/** Same OS, architecture and variant once both are normalized (arm64 = arm64/v8, arm = arm/v7). */
function samePlatform(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture && normalVariant(x) === normalVariant(y);
}

/**
 * True when `candidate` (from an index or config) satisfies `wanted`. Both sides are normalized,
 * so an index entry written as aarch64 or x86_64 matches too.
 */
export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  return samePlatform(candidate, wanted);
}
