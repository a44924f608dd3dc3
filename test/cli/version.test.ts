// `ocitool version`: the package's version, Node's, the host platform and the store format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ocitool, repoRoot } from '../helpers/index.js';

test('version names ocitool, node, the platform and the store format', async () => {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const json = await ocitool(['version', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout);
  assert.deepEqual(Object.keys(info), ['ocitool', 'node', 'platform', 'storeFormat']);
  assert.equal(info.ocitool, pkg.version);
  assert.equal(info.node, process.versions.node);
  assert.match(info.platform, /^linux\/[a-z0-9]+/);
  assert.equal(info.storeFormat, 1);
  const text = await ocitool(['version']);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout.split('\n')[0], `ocitool: ${pkg.version}`);
});
