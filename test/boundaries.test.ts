// Module boundaries, checked on the TypeScript sources: the model does no I/O and imports no
// transport, the engine knows no concrete transport, the store knows no registry or archive, and
// only src/cli prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './helpers/index.js';

async function sources(dir: string): Promise<Array<{ file: string; text: string }>> {
  const out: Array<{ file: string; text: string }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(full)));
    else if (entry.name.endsWith('.ts')) out.push({ file: path.relative(repoRoot, full), text: await readFile(full, 'utf8') });
  }
  return out;
}

function importsOf(text: string): string[] {
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);
}

const src = path.join(repoRoot, 'src');

test('src/oci imports only node built-ins, zod and src/errors', async () => {
  for (const { file, text } of await sources(path.join(src, 'oci'))) {
    for (const spec of importsOf(text)) {
      const ok = spec.startsWith('node:') || spec === 'zod' || spec === 'zod/v3' || spec.startsWith('./') || spec === '../errors.js';
      assert.ok(ok, `${file} imports ${spec}`);
    }
    assert.doesNotMatch(text, /from 'node:(fs|net|http|https|child_process)/, `${file} does I/O`);
  }
});

test('src/copy knows no concrete transport', async () => {
  for (const { file, text } of await sources(path.join(src, 'copy'))) {
    for (const spec of importsOf(text)) assert.doesNotMatch(spec, /\.\.\/(registry|layout|store|archive|cli)\//, `${file} imports ${spec}`);
  }
});

test('src/store knows no registry, archive or CLI', async () => {
  for (const { file, text } of await sources(path.join(src, 'store'))) {
    for (const spec of importsOf(text)) assert.doesNotMatch(spec, /\.\.\/(registry|archive|cli)\/|node-fetch/, `${file} imports ${spec}`);
  }
});

test('src/composefs knows no store, registry or CLI', async () => { for (const { file, text } of await sources(path.join(src, 'composefs'))) for (const spec of importsOf(text)) assert.doesNotMatch(spec, /\.\.\/(store|registry|cli|archive|layout|copy)\/|node-fetch/, `${file} imports ${spec}`); });

test('only src/cli writes to the terminal', async () => {
  for (const { file, text } of await sources(src)) {
    if (file.startsWith(path.join('src', 'cli'))) continue;
    assert.doesNotMatch(text, /console\.(log|error|warn|info)|process\.(stdout|stderr)\.write|process\.exit/, `${file} prints or exits`);
  }
});
