// The README names every command the program has and every environment variable the sources read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildProgram } from '../../src/cli/main.js';
import { repoRoot } from '../helpers/index.js';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(full)));
    else if (entry.name.endsWith('.ts')) out.push(await readFile(full, 'utf8'));
  }
  return out;
}

test('README lists every command in its table', async () => {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const { program } = await buildProgram([]);
  for (const cmd of program.commands) assert.match(readme, new RegExp(`^\\| \`ocitool ${cmd.name()}[ \`]`, 'm'), `README has no row for ${cmd.name()}`);
});

test('README documents every environment variable the sources read', async () => {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const names = new Set<string>();
  for (const text of await sources(path.join(repoRoot, 'src'))) {
    for (const m of text.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]+)|\[['"]([A-Z][A-Z0-9_]+)['"]\])/g)) names.add(m[1] ?? m[2]!);
  }
  // The variables Node reads for us: os.tmpdir() and child processes.
  names.add('TMPDIR');
  assert.ok(names.has('OCITOOL_STORE') && names.has('CI') && names.has('TERM'), [...names].join(' '));
  for (const name of names) assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), `README's environment table has no ${name}`);
});
