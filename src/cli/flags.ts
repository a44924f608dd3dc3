/**
 * Flag parsers the commands share, so `--platform` and `--concurrency` mean the same to pull,
 * copy and push (a comma list of platforms included).
 */
import { OcitoolError } from '../errors.js';
import { hostPlatform, parsePlatformFlags, type Platform } from '../oci/platform.js';

/** Commander's accumulator for a repeatable option. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function parseConcurrency(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new OcitoolError('USAGE', `--concurrency must be a whole number from 1 to 64, not "${text}"`);
  return n;
}

/** The platforms asked for: --all-platforms, the --platform values (each may be a comma list), else this host. */
export function platformsFrom(flags: { platform: string[]; allPlatforms?: boolean }): Platform[] | 'all' {
  if (flags.allPlatforms) {
    if (flags.platform.length) throw new OcitoolError('USAGE', '--platform and --all-platforms exclude each other');
    return 'all';
  }
  return flags.platform.length ? parsePlatformFlags(flags.platform) : [hostPlatform()];
}
