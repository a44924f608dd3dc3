// Platform parsing as containerd normalizes it (aliases, default variants, an architecture alone
// meaning linux), bashbrew names, comma lists, and matching on normalized platforms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OcitoolError } from '../../src/errors.js';
import { formatPlatform, normalizePlatform, parsePlatform, parsePlatformFlags, parsePlatformList, platformMatches } from '../../src/oci/platform.js';

const cases: Array<[string, string]> = [
  // Go names, unchanged
  ['linux/amd64', 'linux/amd64'],
  ['linux/arm64', 'linux/arm64'],
  ['linux/arm/v7', 'linux/arm/v7'],
  ['windows/amd64', 'windows/amd64'],
  // containerd's aliases
  ['linux/aarch64', 'linux/arm64'],
  ['linux/x86_64', 'linux/amd64'],
  ['linux/x86-64', 'linux/amd64'],
  ['linux/armhf', 'linux/arm/v7'],
  ['linux/armel', 'linux/arm/v6'],
  ['linux/i386', 'linux/386'],
  ['linux/i686', 'linux/386'],
  ['Linux/AArch64', 'linux/arm64'],
  ['macos/arm64', 'darwin/arm64'],
  // variants spelled loosely
  ['linux/arm64/8', 'linux/arm64/v8'],
  ['linux/arm64/v8.0', 'linux/arm64/v8'],
  ['linux/aarch64/v8', 'linux/arm64/v8'],
  ['linux/arm64/9.0', 'linux/arm64/v9'],
  ['linux/arm/7', 'linux/arm/v7'],
  ['linux/arm/6', 'linux/arm/v6'],
  ['linux/amd64/v1', 'linux/amd64'],
  ['linux/amd64/v3', 'linux/amd64/v3'],
  // an architecture alone: OS linux
  ['arm64', 'linux/arm64'],
  ['aarch64', 'linux/arm64'],
  ['x86_64', 'linux/amd64'],
  ['amd64', 'linux/amd64'],
  ['armhf', 'linux/arm/v7'],
  ['armel', 'linux/arm/v6'],
  ['i686', 'linux/386'],
  ['riscv64', 'linux/riscv64'],
  ['s390x', 'linux/s390x'],
  // bashbrew names
  ['arm64v8', 'linux/arm64/v8'],
  ['arm32v7', 'linux/arm/v7'],
  ['arm32v6', 'linux/arm/v6'],
  ['arm32v5', 'linux/arm/v5'],
  ['i386', 'linux/386'],
  ['ppc64le', 'linux/ppc64le'],
  ['windows-amd64', 'windows/amd64'],
];

test('parsePlatform accepts Go names, containerd aliases and bashbrew names', () => {
  for (const [input, want] of cases) assert.equal(formatPlatform(parsePlatform(input)), want, input);
  // Kept compatible: no variant is invented for a platform that names none.
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' });
});

test('parsePlatform refuses what names no architecture, with one line naming the input', () => {
  for (const bad of ['linux', 'sparc-ish', 'vax', 'linux/', '/amd64', 'linux/amd64/v8/x', 'linux amd64', '']) {
    assert.throws(() => parsePlatform(bad), (e: unknown) => e instanceof OcitoolError && e.code === 'USAGE' && e.message.includes(`"${bad}"`) && !e.message.includes('\n'), bad);
  }
  assert.throws(() => parsePlatform('linux'), /an OS alone names no architecture; expected OS\/ARCH\[\/VARIANT\] or ARCH/);
});

test('platformMatches applies default variants and normalizes both sides', () => {
  const index = (architecture: string, variant?: string) => ({ os: 'linux', architecture, ...(variant ? { variant } : {}) });
  assert.ok(platformMatches(index('arm64', 'v8'), parsePlatform('arm64')));
  assert.ok(platformMatches(index('arm64'), parsePlatform('linux/arm64/v8')));
  assert.ok(platformMatches(index('arm64', 'v8'), parsePlatform('linux/aarch64')));
  assert.ok(platformMatches(index('amd64'), parsePlatform('linux/x86_64')));
  assert.ok(platformMatches(index('arm', 'v7'), parsePlatform('linux/arm')));
  assert.ok(platformMatches(index('arm'), parsePlatform('armhf')));
  assert.ok(platformMatches(index('386'), parsePlatform('i686')));
  // An index that itself uses an alias still matches.
  assert.ok(platformMatches(index('aarch64'), parsePlatform('linux/arm64')));
  assert.ok(platformMatches(index('x86_64'), parsePlatform('amd64')));
  assert.ok(!platformMatches(index('arm', 'v6'), parsePlatform('armhf')));
  assert.ok(!platformMatches(index('arm', 'v7'), parsePlatform('armel')));
  assert.ok(!platformMatches(index('arm64', 'v9'), parsePlatform('arm64')));
  assert.ok(!platformMatches(index('amd64', 'v3'), parsePlatform('amd64')));
  assert.ok(!platformMatches({ os: 'windows', architecture: 'amd64' }, parsePlatform('amd64')));
});

test('parsePlatformList reads comma lists, drops repeats, refuses empty entries', () => {
  assert.deepEqual(parsePlatformList('linux/amd64,linux/arm64').map(formatPlatform), ['linux/amd64', 'linux/arm64']);
  assert.deepEqual(parsePlatformList(' amd64 , aarch64,arm32v7 ').map(formatPlatform), ['linux/amd64', 'linux/arm64', 'linux/arm/v7']);
  assert.deepEqual(parsePlatformList('arm64,linux/arm64/v8,x86_64,amd64').map(formatPlatform), ['linux/arm64', 'linux/amd64']);
  assert.deepEqual(parsePlatformList('linux/arm64'), [{ os: 'linux', architecture: 'arm64' }]);
  for (const bad of ['linux/amd64,', ',arm64', 'amd64,,arm64', '']) assert.throws(() => parsePlatformList(bad), /empty entry/, bad);
  assert.throws(() => parsePlatformList('amd64,vax'), /invalid platform "vax"/);
  assert.deepEqual(parsePlatformFlags(['amd64,arm64', 'linux/aarch64', 'armhf']).map(formatPlatform), ['linux/amd64', 'linux/arm64', 'linux/arm/v7']);
});

test('normalizePlatform keeps other fields', () => {
  assert.deepEqual(normalizePlatform({ os: 'Windows', architecture: 'X86_64', 'os.version': '10.0.17763.1' }), { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' });
});
