/** assignConvertRefs: a clash of tags gives every image its full name as ref; any other error stops convert. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignConvertRefs } from '../../src/archive/refs.js';

test('tags that clash make every image its full name as ref', () => {
  assert.deepEqual(assignConvertRefs(['docker.io/library/a:1', 'docker.io/b/a:2']), new Map([['docker.io/library/a:1', '1'], ['docker.io/b/a:2', '2']]));
  assert.deepEqual(assignConvertRefs(['docker.io/library/a:1', 'docker.io/b/a:1']), new Map([['docker.io/library/a:1', 'docker.io/library/a:1'], ['docker.io/b/a:1', 'docker.io/b/a:1']]));
});

test('an error other than a clash is not swallowed', () => {
  assert.throws(() => assignConvertRefs(['bad name!']), { code: 'REFERENCE_INVALID' });
});
