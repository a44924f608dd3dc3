/**
 * `npm run bench`: the realistic benchmark first (realistic.ts: the table of issue 8), then every
 * other benchmark module in this folder (each exports a `run*Bench` function), one after another
 * so their numbers do not disturb each other. BENCH_ONLY=realistic (or pull, import, archive, rootfs)
 * runs one module.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.env.BENCH_ONLY;
const modules = (await readdir(here))
  .filter((f) => f.endsWith('.js') && !['run.js', 'lib.js', 'profile.js'].includes(f))
  .filter((f) => !only || f === `${only}.js`)
  .sort((a, b) => Number(b === 'realistic.js') - Number(a === 'realistic.js') || a.localeCompare(b));
for (const file of modules) {
  const mod = (await import(path.join(here, file))) as Record<string, unknown>;
  for (const [name, fn] of Object.entries(mod)) {
    if (/^run\w*Bench$/.test(name) && typeof fn === 'function') await (fn as () => Promise<void>)();
  }
}
