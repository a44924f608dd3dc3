/**
 * `npm run bench`: runs every benchmark module in this folder (each exports a `run*Bench`
 * function) one after another, so their numbers do not disturb each other.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
for (const file of (await readdir(here)).filter((f) => f.endsWith('.js') && f !== 'run.js').sort()) {
  const mod = (await import(path.join(here, file))) as Record<string, unknown>;
  for (const [name, fn] of Object.entries(mod)) {
    if (/^run\w*Bench$/.test(name) && typeof fn === 'function') await (fn as () => Promise<void>)();
  }
}
