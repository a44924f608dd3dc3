// Start-up paths: --version (answered before the CLI loads), --help still listing every command,
// and `images` on a store without tags (answered without opening, or creating, the store).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ocitool, repoRoot, tempDir, removeDir } from '../helpers/index.js';
import { commandModules } from '../../src/cli/commands/index.js';

let dir: string;
let version: string;
before(async () => {
  dir = await tempDir();
  version = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')).version;
});
after(() => removeDir(dir));

test('--version and -V print the package version and exit 0', async () => {
  for (const flag of ['--version', '-V']) {
    const r = await ocitool([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
    assert.equal(r.stderr, '');
  }
  // After a global option it goes through commander, with the same answer.
  const r = await ocitool(['--store', path.join(dir, 'unused'), '--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${version}\n`);
});

test('--help lists --version and every command', async () => {
  const r = await ocitool(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /-V, --version/);
  for (const name of Object.keys(commandModules)) assert.match(r.stdout, new RegExp(`^  ${name}\\b`, 'm'), name);
});

test('images on an absent store lists nothing and does not create the store', async () => {
  const store = path.join(dir, 'absent-store');
  const table = await ocitool(['images'], { store });
  assert.equal(table.code, 0, table.stderr);
  assert.equal(table.stdout, 'NAME  DIGEST  PLATFORM  SIZE\n');
  const json = await ocitool(['images', '--json'], { store });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), []);
  await assert.rejects(stat(store), { code: 'ENOENT' });
});
