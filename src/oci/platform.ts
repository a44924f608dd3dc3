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

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/i.test(p))) {
    throw new OcitoolError('USAGE', `invalid platform "${text}": expected OS/ARCH[/VARIANT], e.g. linux/arm64`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
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

/** True when `candidate` (from an index or config) satisfies `wanted`. */
export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  return normalVariant(candidate) === normalVariant(wanted);
}
