// The progress renderer: mode selection, a tty block that fits the width and redraws cleanly
// (also after a resize), skipped blobs as "already present" and not transferred, the phase line,
// plain output without escape codes, and the CLI through a real pty of 60 columns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { Command } from 'commander';
import { addProgressOption, createRenderer, progressMode, runningLine, selectProgressMode, summaryLines, type OutputStream } from '../../src/cli/progress.js';
import type { ProgressEvent } from '../../src/copy/progress.js';
import { cliPath, removeDir, repoRoot, run, tempDir } from '../helpers/index.js';
import { Terminal } from './terminal.js';

/** A terminal-like stream: what the renderer writes goes into a Terminal model. */
class FakeTty extends EventEmitter {
  isTTY = true;
  rows = 24;
  written = '';
  constructor(public terminal: Terminal, public columns = terminal.columns) {
    super();
  }
  write(chunk: string): boolean {
    this.written += chunk;
    this.terminal.write(chunk);
    return true;
  }
  resize(columns: number): void {
    this.columns = columns;
    this.terminal.resize(columns);
    this.emit('resize');
  }
}

class Collect extends EventEmitter {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

const asStream = (s: object) => s as unknown as OutputStream;
const hex = (c: string) => c.repeat(64);
const L1 = `sha256:${hex('a')}`;
const L2 = `sha256:${hex('b')}`;
const L3 = `sha256:${hex('c')}`;
const MiB = 1024 * 1024;

/** A clock the test moves, so rates and throttling do not depend on the machine. */
function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('auto is tty only on a terminal outside CI and TERM=dumb', () => {
  assert.equal(selectProgressMode('auto', { isTTY: true }, {}), 'tty');
  assert.equal(selectProgressMode('auto', { isTTY: false }, {}), 'plain');
  assert.equal(selectProgressMode('auto', {}, {}), 'plain');
  assert.equal(selectProgressMode('auto', { isTTY: true }, { CI: 'true' }), 'plain');
  assert.equal(selectProgressMode('auto', { isTTY: true }, { CI: '1' }), 'plain');
  assert.equal(selectProgressMode('auto', { isTTY: true }, { CI: 'false' }), 'tty');
  assert.equal(selectProgressMode('auto', { isTTY: true }, { TERM: 'dumb' }), 'plain');
  assert.equal(selectProgressMode('tty', { isTTY: false }, { CI: 'true' }), 'tty');
  assert.equal(selectProgressMode('plain', { isTTY: true }, {}), 'plain');
  assert.equal(selectProgressMode('json', { isTTY: true }, {}), 'json');
  assert.throws(() => selectProgressMode('fancy', { isTTY: true }, {}), /--progress must be one of auto, tty, plain, json, not "fancy"/);
  assert.equal(progressMode({ quiet: true, progress: 'tty' }, { isTTY: true }, {}), 'quiet');
  assert.equal(progressMode({ json: true }, { isTTY: true }, {}), 'json');
  assert.equal(progressMode({ progress: 'plain' }, { isTTY: true }, {}), 'plain');
  assert.equal(progressMode({}, { isTTY: true }, { TERM: 'dumb' }), 'plain');
});

test('addProgressOption gives a command --progress with the four choices', () => {
  const parse = (args: string[]) => {
    const cmd = addProgressOption(new Command('x').exitOverride().configureOutput({ writeErr: () => {} }));
    cmd.parse(args, { from: 'user' });
    return cmd.opts<{ progress?: string }>();
  };
  assert.deepEqual(parse([]), {});
  assert.deepEqual(parse(['--progress', 'plain']), { progress: 'plain' });
  assert.equal(progressMode(parse(['--progress', 'json']), { isTTY: false }, {}), 'json');
  assert.throws(() => parse(['--progress', 'fancy']), /Allowed choices are auto, tty, plain, json/);
});

test('a running line keeps the digest whole at every width and never exceeds it', () => {
  const row = { kind: 'layer', id: L1, bytes: 123 * MiB, size: 456 * MiB };
  for (let width = 1; width <= 120; width++) {
    const line = runningLine(row, '12.3 MiB/s', width);
    assert.ok(line.length <= width, `width ${width}: ${line}`);
    if (width >= 19) assert.ok(line.includes(`sha256:${'a'.repeat(12)}`), `width ${width}: ${line}`);
  }
  assert.match(runningLine(row, '12.3 MiB/s', 59), /^layer sha256:a{12} \[#{3}\.{8}\] 123\.0 MiB\/456\.0 MiB$/);
  assert.match(runningLine(row, '12.3 MiB/s', 79), /^layer sha256:a{12} \[#{5}\.{15}\] 123\.0 MiB\/456\.0 MiB 12\.3 MiB\/s$/);
  assert.equal(runningLine(row, '12.3 MiB/s', 32), `sha256:${'a'.repeat(12)} [###.......]`);
  assert.equal(runningLine(row, '12.3 MiB/s', 30), `sha256:${'a'.repeat(12)}`);
});

/** A pull of two layers, a third already present, then a commit phase and the result. */
function drive(reporter: (e: ProgressEvent) => void, advance: (ms: number) => void, between?: () => void): void {
  reporter({ type: 'skipped', id: L3, kind: 'layer', size: 50 * MiB, reason: 'already in store /s' });
  reporter({ type: 'started', id: L1, kind: 'layer', size: 30 * MiB });
  reporter({ type: 'started', id: L2, kind: 'layer', size: 2 * MiB });
  for (let i = 1; i <= 10; i++) {
    advance(150);
    reporter({ type: 'progress', id: L1, bytes: i * 3 * MiB, size: 30 * MiB });
    reporter({ type: 'progress', id: L2, bytes: Math.min(2 * MiB, i * 300 * 1024), size: 2 * MiB });
    if (i === 5) between?.();
    if (i === 7) reporter({ type: 'done', id: L2, size: 2 * MiB });
  }
  reporter({ type: 'done', id: L1, size: 30 * MiB });
  reporter({ type: 'phase', name: 'commit' });
  advance(1200);
}

const result = { action: 'pulled', images: [{ names: ['docker.io/library/hello:latest'], digest: `sha256:${hex('d')}`, platforms: ['linux/amd64'] }] };

test('tty at 60 columns: nothing wraps, each blob ends as one line, skipped not transferred', () => {
  const t = clock();
  const terminal = new Terminal(60);
  const tty = new FakeTty(terminal);
  const renderer = createRenderer('tty', asStream(tty), asStream(new Collect()), { now: t.now });
  drive(renderer.reporter, t.advance);
  // Before the end, the live status line shows the phase.
  assert.match(terminal.lines().at(-1)!, /^commit… 0\.0 s \| 32\.0 MiB of 32\.0 MiB, 1 already present$/);
  renderer.finish();
  assert.equal(terminal.wraps, 0, 'a progress line wrapped');
  for (const line of terminal.lines()) assert.ok(line.length <= 59, `too long: ${line}`);
  assert.deepEqual(terminal.lines(), [
    `layer sha256:${'c'.repeat(12)} already present`,
    `layer sha256:${'b'.repeat(12)} done 2.0 MiB in 1.1 s`,
    `layer sha256:${'a'.repeat(12)} done 30.0 MiB in 1.5 s`,
    'transferred 32.0 MiB in 2 blobs, 1 already present',
  ]);
  renderer.result(result);
  assert.equal(terminal.lines().at(-1), `pulled docker.io/library/hello:latest sha256:${hex('d')}`.slice(60));
  assert.ok(terminal.lines().join('\n').includes(`pulled docker.io/library/hello:latest sha256:${'d'.repeat(10)}`));
});

test('tty redraws cleanly when the terminal narrows and widens mid-transfer', () => {
  for (const [from, to] of [[100, 60], [60, 100], [120, 40]] as const) {
    const t = clock();
    const terminal = new Terminal(from);
    const tty = new FakeTty(terminal);
    const renderer = createRenderer('tty', asStream(tty), asStream(new Collect()), { now: t.now });
    drive(renderer.reporter, t.advance, () => tty.resize(to));
    renderer.finish();
    // Exactly the permanent lines: no leftover bar, status line or duplicate from before the
    // resize. The first was written at the old width and may reflow; those after fit the new one.
    const lines = terminal.logicalLines();
    assert.equal(lines.length, 4, `${from}→${to}:\n${terminal.lines().join('\n')}`);
    assert.match(lines[0]!, /^layer sha256:c{12} already present$/);
    assert.match(lines[1]!, /^layer sha256:b{12} done 2\.0/);
    assert.match(lines[2]!, /^layer sha256:a{12} done 30\.0/);
    assert.match(lines[3]!, /^transferred 32\.0 MiB in 2 blobs/);
    for (const line of lines.slice(1)) assert.ok(line.length < to, `${from}→${to} too long: ${line}`);
  }
});

test('tty shows at most the rows the terminal has, the rest as a count', () => {
  const t = clock();
  const terminal = new Terminal(60);
  const tty = new FakeTty(terminal);
  tty.rows = 5;
  const renderer = createRenderer('tty', asStream(tty), asStream(new Collect()), { now: t.now });
  for (let i = 0; i < 8; i++) renderer.reporter({ type: 'started', id: `sha256:${String(i).repeat(64)}`, kind: 'layer', size: MiB });
  const lines = terminal.lines();
  assert.equal(lines.length, 4);
  assert.match(lines[3]!, /5 more running/);
  renderer.finish();
  assert.deepEqual(terminal.lines(), []);
});

test('plain: no escape codes, skipped blobs named already present and left out of the total, phases shown', () => {
  const t = clock();
  const err = new Collect();
  const renderer = createRenderer('plain', asStream(err), asStream(new Collect()), { now: t.now });
  drive(renderer.reporter, t.advance);
  renderer.result(result);
  assert.doesNotMatch(err.text, /\x1b/);
  assert.deepEqual(err.text.split('\n'), [
    `layer sha256:${'c'.repeat(12)}: skipped, already present (50.0 MiB)`,
    `layer sha256:${'a'.repeat(12)}: started (30.0 MiB)`,
    `layer sha256:${'b'.repeat(12)}: started (2.0 MiB)`,
    `layer sha256:${'b'.repeat(12)}: done (2.0 MiB in 1.1 s)`,
    `layer sha256:${'a'.repeat(12)}: done (30.0 MiB in 1.5 s)`,
    'commit…',
    'transferred 32.0 MiB in 2 blobs, 1 already present (50.0 MiB)',
    `pulled docker.io/library/hello:latest sha256:${hex('d')}`,
    '',
  ]);
});

test('summary lines name every image, untagged ones by digest', () => {
  assert.deepEqual(summaryLines({ action: 'loaded', images: [{ names: [], digest: L1 }, { names: ['a:1', 'a:2'], digest: L2 }] }), [
    `loaded ${L1} (untagged)`,
    `loaded a:1 ${L2}`,
    `loaded a:2 ${L2}`,
  ]);
  assert.deepEqual(summaryLines({ action: 'saved', destination: 'out.tar', images: [{ names: ['a:1'], digest: L2 }] }), [`saved a:1 ${L2} to out.tar`]);
});

test('quiet prints nothing at all', () => {
  const err = new Collect();
  const out = new Collect();
  const renderer = createRenderer('quiet', asStream(err), asStream(out));
  drive(renderer.reporter, () => {});
  renderer.result(result);
  assert.equal(err.text + out.text, '');
});

// Through a real pseudo-terminal: `script` gives the CLI a tty of 60 columns.
async function inPty(command: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const r = await run('script', ['-qfec', `stty cols 60 rows 24; ${command}`, '/dev/null'], { env: { TERM: 'xterm', ...env } });
  return { code: r.code, output: r.stdout };
}

test('the CLI in a 60-column pty: progress fits, and CI=true or TERM=dumb gives no escape codes', async () => {
  const dir = await tempDir();
  try {
    const fixture = path.join(repoRoot, 'fixtures', 'hello-oci');
    const cmd = (store: string) => `${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} import-oci ${JSON.stringify(fixture)} --tag hello --store ${JSON.stringify(store)}`;
    const tty = await inPty(cmd(path.join(dir, 's1')), { CI: '' });
    assert.equal(tty.code, 0, tty.output);
    assert.match(tty.output, /\x1b\[/, 'a terminal gets a redrawn block');
    const terminal = new Terminal(60);
    terminal.write(tty.output);
    const lines = terminal.lines();
    // Progress lines (not the data on stdout, nor the summary naming the image) fit 60 columns,
    // and the redraws left each blob once.
    const progress = lines.filter((l) => /^(layer|blob|config|total|transferred|[a-z]+…)\b/.test(l));
    assert.ok(progress.some((l) => /^layer sha256:[0-9a-f]{12} done /.test(l)), lines.join('\n'));
    assert.ok(progress.some((l) => /^transferred /.test(l)), lines.join('\n'));
    for (const line of progress) assert.ok(line.length <= 60, `too long: ${line}`);
    assert.equal(new Set(progress).size, progress.length, `a line repeats:\n${lines.join('\n')}`);
    for (const env of [{ CI: 'true' }, { CI: '', TERM: 'dumb' }]) {
      const plain = await inPty(cmd(path.join(dir, `s-${Object.values(env).join('')}`)), env);
      assert.equal(plain.code, 0, plain.output);
      assert.doesNotMatch(plain.output, /\x1b/, JSON.stringify(env));
      assert.match(plain.output, /layer sha256:[0-9a-f]{12}: started/);
    }
  } finally {
    await removeDir(dir);
  }
});
