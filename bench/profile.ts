/** Summary of a V8 .cpuprofile (node --cpu-prof): self time by kind of work and by function. */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Kinds of work, matched on the function name and its file, first match wins. */
const KINDS: Array<[string, (f: CallFrame) => boolean]> = [
  ['main thread idle (waiting for I/O, the thread pool or a child)', (f) => f.functionName === '(idle)'],
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['hashing (sha256, fs-verity)', (f) => /^(update|digest|hash|hashBlock|hashDataBlock|pushHash|finishLevels)$/.test(f.functionName) && /crypto|verity|hash/.test(f.url)],
  ['file system calls (open, write, mkdir, access, rename, fsync, readdir, stat)', (f) => /^(open|openSync|write|writeSync|writev|writevSync|mkdir|mkdirSync|access|accessSync|rename|renameSync|fsync|fsyncSync|fdatasync|close|closeSync|readdir|stat|lstat|fstat|link|symlink|utimes|chmod|openFileHandle|writeFileHandle|readFileHandle|writeBuffer|writeString|read|readSync)$/.test(f.functionName)],
  ['decompression (zlib, zstd, xz)', (f) => /zlib|zstd|lzma/.test(f.url) || /^(processChunk|processCallback|zlibOnError)/.test(f.functionName)],
  ['tar parsing and splitting', (f) => /tar-stream|tar-split|split-stream|\/tar\//.test(f.url)],
  ['streams and buffers (node internals)', (f) => /internal\/streams|node:stream|node:buffer|streamx|b4a|fast-fifo/.test(f.url) || /^(Buffer|concat|copy|_copy|subarray|slice)$/.test(f.functionName)],
  ['module loading and compiling (start-up)', (f) => /esm\/|cjs\/|modules\/|bootstrap|realm/.test(f.url) || /compile/i.test(f.functionName)],
  ['ocitool code', (f) => /\/dist\/src\//.test(f.url)],
];

export function summarizeProfile(profile: CpuProfile, top = 15): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfByFunction = new Map<string, number>();
  const byKind = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    total += ms;
    const f = node.callFrame;
    const where = f.url ? ` ${f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + ms);
    const kind = KINDS.find(([, match]) => match(f))?.[0] ?? 'other';
    byKind.set(kind, (byKind.get(kind) ?? 0) + ms);
  }
  const pct = (ms: number) => `${((100 * ms) / Math.max(total, 1)).toFixed(1).padStart(5)}%`;
  const lines = [`  total ${(total / 1000).toFixed(2)} s of samples`, '  by kind of work:'];
  for (const [kind, ms] of [...byKind].sort((a, b) => b[1] - a[1])) lines.push(`    ${(ms / 1000).toFixed(3).padStart(7)} s ${pct(ms)}  ${kind}`);
  lines.push(`  top ${top} functions by self time:`);
  for (const [key, ms] of [...selfByFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${(ms / 1000).toFixed(3).padStart(7)} s ${pct(ms)}  ${key}`);
  return lines.join('\n');
}
