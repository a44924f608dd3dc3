// The package as a library: `npm pack`, installed into a separate temporary project, where the
// README's typed example is compiled with tsc against the shipped declarations and run: it
// imports the fixture layout into a temporary store and lists the images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mustRun, removeDir, repoRoot, run, tempDir } from '../helpers/index.js';

/** The ```ts block that follows the library-example marker in README.md. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const m = /<!-- library-example[^>]*-->\n```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has the library example');
  return m[1]!;
}

test('npm pack, install in another project, compile and run the README example', async () => {
  const dir = await tempDir();
  try {
    // dist/ is already built (tests run from it): pack without running `prepare` again.
    const packed = (await mustRun('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: repoRoot })).trim().split('\n').at(-1)!;
    const tarball = path.join(dir, packed);
    const project = path.join(dir, 'project');
    await mustRun('mkdir', [project]);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'example', private: true, type: 'module' }));
    // Dependencies come from npm's cache when it has them (offline after the first run). A
    // TypeScript user of a Node library has Node's types: the declarations name Buffer and streams.
    const install = await run('npm', ['install', tarball, '@types/node@20', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: project });
    assert.equal(install.code, 0, install.stderr);
    // Only the library and CLI ship: no tests, no sources.
    const shipped = await readdir(path.join(project, 'node_modules', 'ocitool', 'dist'));
    assert.deepEqual(shipped, ['src']);
    await writeFile(path.join(project, 'example.ts'), await readmeExample());
    await writeFile(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out', types: ['node'] },
      files: ['example.ts'],
    }));
    const tsc = await run(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project });
    assert.equal(tsc.code, 0, `the example does not compile against the package's types:\n${tsc.stdout}${tsc.stderr}`);
    const store = path.join(dir, 'store');
    const fixture = path.join(repoRoot, 'fixtures', 'hello-oci');
    const index = JSON.parse(await readFile(path.join(fixture, 'index.json'), 'utf8'));
    const digest = index.manifests[0].digest as string;
    const r = await run(process.execPath, [path.join(project, 'out', 'example.js'), store, fixture], { cwd: project });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], `imported ${digest}`);
    assert.match(lines[1]!, new RegExp(`^docker\\.io/library/hello:latest ${digest} linux/amd64 \\d+$`));
    // A wrong type is caught by the declarations, so they are real and not `any`.
    await writeFile(path.join(project, 'example.ts'), `import { openStore } from 'ocitool';\nconst n: number = await openStore('x');\n`);
    const bad = await run(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /Type 'Store' is not assignable to type 'number'/);
  } finally {
    await removeDir(dir);
  }
});
