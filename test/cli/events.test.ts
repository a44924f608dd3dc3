// The JSON event stream (docs/events.md): every line the json renderer writes is one JSON object
// of a documented type, the last is the `result` event, and the page's examples match the schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { createRenderer, type OutputStream } from '../../src/cli/progress.js';
import type { ProgressEvent } from '../../src/copy/progress.js';
import { repoRoot } from '../helpers/index.js';

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const size = z.number().int().nonnegative();

/** The schema of docs/events.md. Unknown fields are allowed (readers must ignore them). */
const EventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), id: digest, kind: z.enum(['layer', 'blob', 'config', 'manifest', 'index']), size }),
  z.object({ type: z.literal('progress'), id: digest, bytes: size, size }),
  z.object({ type: z.literal('done'), id: digest, size }),
  z.object({ type: z.literal('skipped'), id: digest, kind: z.string(), size, reason: z.string() }),
  z.object({ type: z.literal('phase'), name: z.string().min(1), detail: z.string().optional() }),
  z.object({ type: z.literal('message'), text: z.string() }),
  z.object({ type: z.literal('error'), message: z.string(), id: z.string().optional() }),
  z.object({
    type: z.literal('result'),
    action: z.string().min(1),
    destination: z.string().optional(),
    images: z.array(z.object({ names: z.array(z.string()), digest, mediaType: z.string().optional(), platforms: z.array(z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/)) })),
  }),
]);

// Every library event type must be documented: this fails to compile when one is added here only.
const LIBRARY_TYPES: Record<ProgressEvent['type'], true> = { started: true, progress: true, done: true, skipped: true, phase: true, message: true, error: true };

/** Parses every line of a JSON Lines text; fails naming the line that is not one valid event. */
function parseLines(text: string): Array<z.infer<typeof EventSchema>> {
  assert.ok(text.endsWith('\n'), 'output ends with a newline');
  return text.slice(0, -1).split('\n').map((line, i) => {
    let value: unknown;
    assert.doesNotThrow(() => (value = JSON.parse(line)), `line ${i + 1} is not JSON: ${line}`);
    const parsed = EventSchema.safeParse(value);
    assert.ok(parsed.success, `line ${i + 1} does not match docs/events.md: ${line}\n${parsed.error?.message}`);
    return parsed.data!;
  });
}

test('the json renderer writes one documented event per line and ends with the result', () => {
  let out = '';
  let err = '';
  const stream = (write: (s: string) => void) => ({ write: (s: string) => (write(s), true) }) as unknown as OutputStream;
  let t = 0;
  const renderer = createRenderer('json', stream((s) => (err += s)), stream((s) => (out += s)), { now: () => t });
  const L = `sha256:${'a'.repeat(64)}`;
  const S = `sha256:${'b'.repeat(64)}`;
  const M = `sha256:${'c'.repeat(64)}`;
  renderer.reporter({ type: 'skipped', id: S, kind: 'layer', size: 10, reason: 'already in store /s' });
  renderer.reporter({ type: 'started', id: L, kind: 'layer', size: 3000 });
  for (let bytes = 100; bytes <= 3000; bytes += 100) {
    t += 250;
    renderer.reporter({ type: 'progress', id: L, bytes, size: 3000 });
  }
  renderer.reporter({ type: 'done', id: L, size: 3000 });
  renderer.reporter({ type: 'done', id: M, size: 400 });
  renderer.reporter({ type: 'message', text: 'index copied partly' });
  renderer.reporter({ type: 'phase', name: 'commit', detail: '3 objects' });
  renderer.finish();
  renderer.result({ action: 'imported', images: [{ names: ['docker.io/library/hello:latest'], digest: M, mediaType: 'application/vnd.oci.image.manifest.v1+json', platforms: ['linux/amd64'] }, { names: [], digest: S }] });
  assert.equal(err, '', 'nothing for people in json mode');
  const events = parseLines(out);
  const types = events.map((e) => e.type);
  assert.deepEqual(new Set(types), new Set([...Object.keys(LIBRARY_TYPES).filter((k) => k !== 'error'), 'result']));
  // Progress is throttled to about one a second per blob: 30 updates over 7.5 s give 7 or 8.
  const progress = events.filter((e) => e.type === 'progress').length;
  assert.ok(progress >= 6 && progress <= 8, `${progress} progress events`);
  const last = events.at(-1)!;
  assert.equal(types.filter((x) => x === 'result').length, 1);
  assert.deepEqual(last, { type: 'result', action: 'imported', images: [{ names: ['docker.io/library/hello:latest'], digest: M, mediaType: 'application/vnd.oci.image.manifest.v1+json', platforms: ['linux/amd64'] }, { names: [], digest: S, platforms: [] }] });
});

test('docs/events.md documents every event type and its examples match the schema', async () => {
  const doc = await readFile(path.join(repoRoot, 'docs', 'events.md'), 'utf8');
  for (const type of [...Object.keys(LIBRARY_TYPES), 'result']) assert.match(doc, new RegExp(`^\\| \`${type}\` \\|`, 'm'), `${type} is not in the tables of docs/events.md`);
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 2);
  const events = blocks.flatMap((block) => parseLines(block));
  assert.deepEqual(new Set(events.map((e) => e.type)), new Set(['skipped', 'started', 'progress', 'done', 'phase', 'message', 'result']));
});
