/**
 * Issue 9, wired into the commands, through real processes: --json output that is JSON lines only
 * ending with a `result` event, the last stderr line naming what was done, `-` for stdin and
 * stdout (and refusing a terminal, through `script`), layout refs (PATH:REF, --ref, --force to
 * repoint), refless docker archives, platform aliases and lists and the single-platform check,
 * inspect by digest, images -q / --format, gc's total.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cliPath, mustRun, ocitool, removeDir, run, tempDir, type RunResult } from '../helpers/index.js';
import { skopeoRawDigest, startRegistry, type RegistryInstance } from '../helpers/registry.js';
import { writeRootfsTar, sampleRootfs } from '../helpers/images.js';
import { makeLayout, skopeoToDockerArchive } from '../archive/helpers.js';
import { pushSingleLayer, pushTwoPlatformIndex } from '../registry/fixtures.js';

interface ResultEvent {
  type: 'result';
  action: string;
  destination?: string;
  images: Array<{ names: string[]; digest: string; mediaType?: string; platforms: string[] }>;
}

/** Every stdout line parsed as one JSON object with a type; the last one the result event. */
function parseJsonLines(r: RunResult): ResultEvent {
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.pop(), '', 'stdout ends with a newline');
  assert.ok(lines.length > 0);
  const events = lines.map((line) => {
    const event = JSON.parse(line) as { type?: unknown };
    assert.equal(typeof event.type, 'string', line);
    return event;
  });
  const last = events.at(-1) as ResultEvent;
  assert.equal(last.type, 'result');
  assert.equal(events.filter((e) => e.type === 'result').length, 1);
  return last;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** Runs the CLI with stdin and/or stdout connected to files (a redirect, not a pipe). */
function ocitoolFiles(args: string[], options: { store: string; stdin?: string; stdout?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdin = options.stdin ? openSync(options.stdin, 'r') : 'ignore';
    const stdout = options.stdout ? openSync(options.stdout, 'w') : 'pipe';
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, OCITOOL_STORE: options.store }, stdio: [stdin, stdout, 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (typeof stdin === 'number') closeSync(stdin);
      if (typeof stdout === 'number') closeSync(stdout);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Runs the CLI on a terminal (script's pty) for stdin and stdout; returns what the terminal showed. */
function onTerminal(args: string[], store: string, stdoutToFile?: string): Promise<RunResult> {
  const quoted = [process.execPath, cliPath, ...args].map((a) => `'${a}'`).join(' ');
  return run('script', ['-qec', stdoutToFile ? `${quoted} > '${stdoutToFile}'` : quoted, '/dev/null'], { env: { OCITOOL_STORE: store }, timeoutMs: 20000 });
}

let work: string;
let rootfs: string;
let layout: string;
let layoutDigest: string;
let dockerArchive: string;

before(async () => {
  work = await tempDir('ocitool-scripting-');
  rootfs = path.join(work, 'rootfs.tar');
  await writeRootfsTar(rootfs, sampleRootfs(91, 8, 4096));
  layout = await makeLayout(path.join(work, 'layout'), 92, 'v1');
  layoutDigest = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')).manifests[0].digest;
  dockerArchive = path.join(work, 'docker.tar');
  await skopeoToDockerArchive(layout, 'v1', dockerArchive, 'docker.io/library/app:v1');
});
after(async () => removeDir(work));

describe('--json is JSON lines ending with a result event; without it the last stderr line says what was done', () => {
  test('import-rootfs', async () => {
    const store = path.join(work, 'j-rootfs');
    const json = parseJsonLines(await ocitool(['import-rootfs', '--json', rootfs, '--tag', 'r:1', '--platform', 'aarch64'], { store }));
    assert.equal(json.action, 'imported');
    assert.deepEqual(json.images[0]!.names, ['docker.io/library/r:1']);
    assert.deepEqual(json.images[0]!.platforms, ['linux/arm64']);
    const text = await ocitool(['import-rootfs', rootfs, '--tag', 'r:2', '--platform', 'aarch64', '--progress', 'plain'], { store });
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, `${json.images[0]!.digest}\n`);
    assert.equal(lastLine(text.stderr), `imported docker.io/library/r:2 ${json.images[0]!.digest}`);
  });

  test('import-oci, load, save, convert', async () => {
    const store = path.join(work, 'j-all');
    const imported = parseJsonLines(await ocitool(['import-oci', '--json', layout, '--tag', 'app:v1'], { store }));
    assert.equal(imported.action, 'imported');
    assert.deepEqual(imported.images, [{ names: ['docker.io/library/app:v1'], digest: layoutDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', platforms: ['linux/amd64'] }]);
    const text = await ocitool(['import-oci', layout, '--tag', 'app:v2'], { store });
    assert.equal(text.stdout, `${layoutDigest}\n`);
    assert.equal(lastLine(text.stderr), `imported docker.io/library/app:v2 ${layoutDigest}`);

    const saved = path.join(work, 'j-saved.tar');
    const save = parseJsonLines(await ocitool(['save', '--json', 'app:v1', '-o', saved], { store }));
    assert.equal(save.action, 'saved');
    assert.equal(save.destination, saved);
    assert.deepEqual(save.images[0]!.names, ['v1']);
    const saveText = await ocitool(['save', 'app:v1', '-o', saved], { store });
    assert.equal(saveText.stdout, '');
    assert.equal(lastLine(saveText.stderr), `saved v1 ${layoutDigest} to ${saved}`);

    const fresh = path.join(work, 'j-load');
    const load = parseJsonLines(await ocitool(['load', '--json', '--name', 'back', '-i', saved], { store: fresh }));
    assert.equal(load.action, 'loaded');
    assert.deepEqual(load.images[0]!.names, ['docker.io/library/back:v1']);
    assert.deepEqual(load.images[0]!.platforms, ['linux/amd64']);
    const loadText = await ocitool(['load', '--name', 'back', '-i', saved], { store: fresh });
    assert.equal(loadText.stdout, `docker.io/library/back:v1 ${layoutDigest}\n`);
    assert.equal(lastLine(loadText.stderr), `loaded docker.io/library/back:v1 ${layoutDigest}`);

    const convert = parseJsonLines(await ocitool(['convert', '--json', dockerArchive, '-o', path.join(work, 'j-conv')], { store }));
    assert.equal(convert.action, 'converted');
    assert.deepEqual(convert.images[0]!.names, ['v1']);
    assert.deepEqual(convert.images[0]!.platforms, ['linux/amd64']);
    const convText = await ocitool(['convert', dockerArchive, '-o', path.join(work, 'j-conv2')], { store });
    assert.equal(convText.stdout, `v1 ${convert.images[0]!.digest}\n`);
    assert.equal(lastLine(convText.stderr), `converted v1 ${convert.images[0]!.digest} to ${path.join(work, 'j-conv2')}`);
  });
});

describe('- is stdin for inputs and stdout for -o; a terminal is refused', () => {
  test('import-rootfs -, import-oci -, load -i -, convert - -o -, save -o - through redirected files', async () => {
    const store = path.join(work, 'stdio');
    const r1 = await ocitoolFiles(['import-rootfs', '-', '--tag', 'r:1'], { store, stdin: rootfs });
    assert.equal(r1.code, 0, r1.stderr);
    const r2 = await ocitool(['import-rootfs', rootfs, '--tag', 'r:2'], { store });
    assert.equal(r1.stdout, r2.stdout, 'same digest from stdin as from the file');

    const saved = path.join(work, 'stdio-saved.tar');
    const s = await ocitoolFiles(['save', 'r:1', '-o', '-'], { store, stdout: saved });
    assert.equal(s.code, 0, s.stderr);
    assert.match(lastLine(s.stderr), /^saved 1 sha256:[0-9a-f]{64} to stdout$/);
    await mustRun('skopeo', ['inspect', `oci-archive:${saved}:1`]);

    const l = await ocitoolFiles(['load', '-i', '-', '--name', 'viastdin'], { store, stdin: saved });
    assert.equal(l.code, 0, l.stderr);
    assert.equal(l.stdout.trim(), `docker.io/library/viastdin:1 ${r2.stdout.trim()}`);

    const i = await ocitoolFiles(['import-oci', '-', '--tag', 'oci:stdin'], { store, stdin: saved });
    assert.equal(i.code, 0, i.stderr);
    assert.equal(i.stdout, r2.stdout);

    const converted = path.join(work, 'stdio-converted.tar');
    const c = await ocitoolFiles(['convert', '-', '-o', '-'], { store, stdin: dockerArchive, stdout: converted });
    assert.equal(c.code, 0, c.stderr);
    assert.match(lastLine(c.stderr), /^converted v1 sha256:[0-9a-f]{64} to stdout$/);
    await mustRun('skopeo', ['inspect', `oci-archive:${converted}:v1`]);
    const back = await ocitool(['load', '-q', '-i', converted], { store });
    assert.equal(back.code, 0, back.stderr);
  });

  test('reading an archive from a terminal or writing one to it is refused with one line', async () => {
    const store = path.join(work, 'tty');
    assert.equal((await ocitool(['import-rootfs', rootfs, '--tag', 'r:1'], { store })).code, 0);
    for (const args of [['convert', '-', '-o', path.join(work, 'tty-out')], ['load', '-i', '-'], ['load'], ['import-oci', '-', '--tag', 'x'], ['import-rootfs', '-', '--tag', 'x']]) {
      const r = await onTerminal(args, store);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stdout, /refusing to read .* from a terminal/, args.join(' '));
      assert.equal(r.stdout.trim().split('\n').length, 1, r.stdout);
    }
    for (const args of [['save', 'r:1', '-o', '-'], ['convert', dockerArchive, '-o', '-']]) {
      const r = await onTerminal(args, store);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stdout, /refusing to write .* to a terminal/);
    }
  });
});

describe('layout refs', () => {
  let multi: string;
  let other: string;
  /** Digest of ref r1 in `multi` (skopeo compresses the layers, so not the source's). */
  let r1: string;
  before(async () => {
    // One layout, two images for linux/amd64 under refs r1 and r2, and a folder with ':' in its name.
    other = await makeLayout(path.join(work, 'layout-b'), 93, 'v1');
    multi = path.join(work, 'multi');
    await mustRun('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `oci:${multi}:r1`]);
    await mustRun('skopeo', ['copy', '--quiet', `oci:${other}:v1`, `oci:${multi}:r2`]);
    const index = JSON.parse(await readFile(path.join(multi, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    r1 = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'r1')!.digest;
  });

  test('import-oci lists the refs when several images match, and DIR:REF or --ref picks one', async () => {
    const store = path.join(work, 'refs-import');
    const r = await ocitool(['import-oci', multi, '--tag', 'x'], { store });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /2 manifests; choose one with PATH:REF or --ref REF \(refs: "r1", "r2"\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const byPath = await ocitool(['import-oci', `${multi}:r1`, '--tag', 'x:1', '-q'], { store });
    assert.equal(byPath.stdout.trim(), r1);
    const byFlag = await ocitool(['import-oci', multi, '--ref', 'r1', '--tag', 'x:2', '-q'], { store });
    assert.equal(byFlag.stdout.trim(), r1);
    const missing = await ocitool(['import-oci', `${multi}:nope`, '--tag', 'x:3'], { store });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no image with ref "nope"; the layout has "r1", "r2"/);
    // A path that exists is taken whole, even with ':' in it.
    const colon = path.join(work, 'with:colon');
    await mustRun('cp', ['-r', layout, colon]);
    const whole = await ocitool(['import-oci', colon, '--tag', 'x:4', '-q'], { store });
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(whole.stdout.trim(), layoutDigest);
    const colonRef = await ocitool(['import-oci', `${colon}:v1`, '--tag', 'x:5', '-q'], { store });
    assert.equal(colonRef.stdout.trim(), layoutDigest, colonRef.stderr);
  });

  test('load --ref REF and -i PATH:REF select by ref', async () => {
    const store = path.join(work, 'refs-load');
    const r = await ocitool(['load', '-q', '--name', 'sel', '--ref', 'r2', '-i', multi], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^docker\.io\/library\/sel:r2 sha256:/);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const p = await ocitool(['load', '-q', '--name', 'sel', '-i', `${multi}:r1`], { store });
    assert.equal(p.stdout, `docker.io/library/sel:r1 ${r1}\n`);
    const bad = await ocitool(['load', '--name', 'sel', '--ref', 'zz', '-i', multi], { store });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no image with ref "zz"; it has: "r1", "r2"/);
  });

  test('convert --ref into an existing folder repoints a ref only with --force; the error names both digests', async () => {
    const out = path.join(work, 'refs-conv');
    const first = await ocitool(['convert', '-q', dockerArchive, '-o', out, '--ref', 'keep'], { store: path.join(work, 'unused') });
    assert.equal(first.code, 0, first.stderr);
    const otherArchive = path.join(work, 'other-docker.tar');
    await skopeoToDockerArchive(other, 'v1', otherArchive, 'docker.io/library/other:v1');
    const before = await readFile(path.join(out, 'index.json'), 'utf8');
    const refused = await ocitool(['convert', '-q', otherArchive, '-o', out, '--ref', 'keep'], { store: path.join(work, 'unused') });
    assert.equal(refused.code, 1);
    const digests = refused.stderr.match(/sha256:[0-9a-f]{64}/g) ?? [];
    assert.equal(new Set(digests).size, 2, refused.stderr);
    assert.match(refused.stderr, /ref "keep" names .* would repoint it \(use --force/);
    assert.equal(await readFile(path.join(out, 'index.json'), 'utf8'), before);
    const forced = await ocitool(['convert', '-q', otherArchive, '-o', out, '--ref', 'keep', '--force'], { store: path.join(work, 'unused') });
    assert.equal(forced.code, 0, forced.stderr);
    const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'keep');
    assert.equal(`keep ${index.manifests[0].digest}`, forced.stdout.trim());
  });
});

test('a refless docker archive (docker save IMAGE-ID) loads untagged under its digest, or named by --name', async () => {
  const store = path.join(work, 'refless');
  const archive = path.join(work, 'refless.tar');
  await mustRun('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `docker-archive:${archive}`]);
  const manifest = JSON.parse(await mustRun('tar', ['-xOf', archive, 'manifest.json'])) as Array<{ RepoTags?: string[] | null }>;
  assert.ok(!manifest[0]!.RepoTags?.length, 'the fixture has no RepoTags');
  const r = await ocitool(['load', '-i', archive], { store });
  assert.equal(r.code, 0, r.stderr);
  const digest = r.stdout.trim().split(' ')[1]!;
  assert.equal(r.stdout, `(untagged) ${digest}\n`);
  assert.equal(lastLine(r.stderr), `loaded ${digest} (untagged)`);
  const json = parseJsonLines(await ocitool(['load', '--json', '-i', archive], { store }));
  assert.deepEqual(json.images[0]!.names, []);
  // Kept: gc does not remove it, images lists it, inspect finds it by digest prefix, rm removes it.
  assert.equal((await ocitool(['gc'], { store })).code, 0);
  assert.equal((await ocitool(['fsck'], { store })).code, 0);
  assert.equal((await ocitool(['images', '-q'], { store })).stdout, `${digest}\n`);
  const inspect = await ocitool(['inspect', digest.slice(7, 19)], { store });
  assert.equal(JSON.parse(inspect.stdout).digest, digest);
  const named = await ocitool(['load', '-q', '--name', 'named', '-i', archive], { store });
  assert.equal(named.stdout, `docker.io/library/named:latest ${digest}\n`, named.stderr);
  assert.equal((await ocitool(['rm', digest], { store })).stdout, `removed ${digest}\n`);
});

describe('pull: result event, layout refs, platforms', () => {
  let registry: RegistryInstance;
  before(async () => {
    registry = await startRegistry();
    await pushSingleLayer(`${registry.host}/single:v1`, 94);
    await pushSingleLayer(`${registry.host}/single:v2`, 95);
    await pushTwoPlatformIndex(`${registry.host}/index:v1`, 96);
  });
  after(async () => registry.stop());

  test('pull prints the digest last and ends stderr with "pulled NAME DIGEST"', async () => {
    const r = await ocitool(['pull', '--progress', 'plain', `${registry.host}/single:v1`], { store: path.join(work, 'pull-text') });
    assert.equal(r.code, 0, r.stderr);
    const digest = await skopeoRawDigest(`${registry.host}/single:v1`);
    assert.equal(r.stdout, `${digest}\n`);
    assert.equal(lastLine(r.stderr), `pulled ${registry.host}/single:v1 ${digest}`);
  });

  test('--platform takes aliases and comma lists; a single-platform image that does not match is refused unless --force', async () => {
    const store = path.join(work, 'pull-platforms');
    const both = parseJsonLines(await ocitool(['pull', '--json', '--platform', 'x86_64,aarch64', `${registry.host}/index:v1`], { store }));
    assert.deepEqual([...both.images[0]!.platforms].sort(), ['linux/amd64', 'linux/arm64/v8']);
    const one = parseJsonLines(await ocitool(['pull', '--json', '--platform', 'arm64v8', `${registry.host}/index:v1`], { store: path.join(work, 'pull-one') }));
    assert.deepEqual(one.images[0]!.platforms, ['linux/arm64/v8']);
    const refused = await ocitool(['pull', '--platform', 'linux/arm64', `${registry.host}/single:v1`], { store });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.match(refused.stderr, /single-platform image for linux\/amd64, not linux\/arm64; use --force/);
    assert.doesNotMatch((await ocitool(['images'], { store })).stdout, /single/);
    const forced = await ocitool(['pull', '-q', '--force', '--platform', 'linux/arm64', `${registry.host}/single:v1`], { store });
    assert.equal(forced.code, 0, forced.stderr);
  });

  test('copy and push take --platform comma lists as pull does', async () => {
    const store = path.join(work, 'copy-platforms');
    const copied = parseJsonLines(await ocitool(['copy', '--json', '--platform', 'x86_64,aarch64', `docker://${registry.host}/index:v1`, 'store:idx:v1'], { store }));
    const pushed = await ocitool(['push', '-q', '--platform', 'linux/amd64,linux/arm64', 'idx:v1', `${registry.host}/index-pushed:v1`], { store });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(pushed.stdout.trim(), copied.images[0]!.digest);
    const index = JSON.parse(await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/index-pushed:v1`])) as { manifests: Array<{ platform: { architecture: string } }> };
    assert.deepEqual(index.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
  });

  test('pull --layout DIR:REF names the ref; repointing it needs --force', async () => {
    const dir = path.join(work, 'pull-layout');
    const first = parseJsonLines(await ocitool(['pull', '--json', '--layout', `${dir}:stable`, `${registry.host}/single:v1`]));
    assert.deepEqual(first.images[0]!.names, ['stable']);
    assert.equal(first.destination, dir);
    await mustRun('skopeo', ['inspect', `oci:${dir}:stable`]);
    const again = await ocitool(['pull', '-q', '--layout', `${dir}:stable`, `${registry.host}/single:v1`]);
    assert.equal(again.code, 0, 'the same image again is no repoint');
    const refused = await ocitool(['pull', '-q', '--layout', `${dir}:stable`, `${registry.host}/single:v2`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`ref "stable" names ${first.images[0]!.digest}; writing sha256:[0-9a-f]{64} would repoint it`));
    const forced = await ocitool(['pull', '-q', '--force', '--layout', `${dir}:stable`, `${registry.host}/single:v2`]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout.trim(), await skopeoRawDigest(`${registry.host}/single:v2`));
  });
});

describe('inspect, images, gc', () => {
  test('inspect accepts --json, a digest and a unique digest prefix; an ambiguous prefix is refused', async () => {
    const store = path.join(work, 'inspect');
    const digest = (await ocitool(['import-oci', '-q', layout, '--tag', 'app:v1'], { store })).stdout.trim();
    for (const arg of ['app:v1', digest, digest.slice(0, 16), digest.slice(7, 14)]) {
      const r = await ocitool(['inspect', '--json', arg], { store });
      assert.equal(r.code, 0, `${arg}: ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).name, 'docker.io/library/app:v1');
    }
    const none = await ocitool(['inspect', 'sha256:0000'], { store });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no image with digest sha256:0000/);
  });

  test('images -q prints each digest once; --format fills the fields of --json', async () => {
    const store = path.join(work, 'images');
    const digest = (await ocitool(['import-oci', '-q', layout, '--tag', 'app:v1', '--tag', 'app:v2'], { store })).stdout.trim();
    assert.equal((await ocitool(['images', '-q'], { store })).stdout, `${digest}\n`);
    const f = await ocitool(['images', '--format', '{{.Name}}\\t{{.Digest}} {{.Platforms}} {{json .Size}}'], { store });
    const rows = JSON.parse((await ocitool(['images', '--json'], { store })).stdout) as Array<{ size: number }>;
    assert.equal(f.stdout, `docker.io/library/app:v1\t${digest} linux/amd64 ${rows[0]!.size}\ndocker.io/library/app:v2\t${digest} linux/amd64 ${rows[1]!.size}\n`);
    const bad = await ocitool(['images', '--format', '{{.Nope}}'], { store });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown field \.Nope/);
  });

  test('gc counts leftover staging bytes in what it frees', async () => {
    const store = path.join(work, 'gc');
    assert.equal((await ocitool(['import-oci', '-q', layout, '--tag', 'app:v1'], { store })).code, 0);
    const leftover = path.join(store, 'staging', '999999-dead');
    await mkdir(leftover, { recursive: true });
    await writeFile(path.join(leftover, 'partial'), Buffer.alloc(4096, 1));
    const r = await ocitool(['gc'], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 leftover staging folders \(4\.0 KiB\).*; freed 4\.0 KiB$/m);
  });
});
