/**
 * Auth files as docker reads them: `null` where Go's encoding/json accepts it means empty; every
 * other malformed file is one line naming the file, never a TypeError and never a secret.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OcitoolError } from '../../src/errors.js';
import { findCredentials } from '../../src/registry/credentials.js';
import { removeDir, tempDir } from '../helpers/index.js';

describe('docker config and auth.json entries', () => {
  let work: string;
  let n = 0;
  before(async () => {
    work = await tempDir('ocitool-authfile-');
  });
  after(async () => removeDir(work));

  /** An environment whose only auth file is a docker config.json holding `text`. */
  async function dockerConfig(text: string): Promise<{ env: NodeJS.ProcessEnv; file: string }> {
    const dir = path.join(work, `docker${n++}`);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'config.json');
    await writeFile(file, text);
    return { env: { HOME: work, XDG_RUNTIME_DIR: '', XDG_CONFIG_HOME: path.join(work, 'noconfig'), DOCKER_CONFIG: dir, PATH: process.env.PATH }, file };
  }

  test('null entries are empty, as in docker: no credentials and no TypeError', async () => {
    for (const text of [
      '{"auths":{"127.0.0.1:5000":null},"credHelpers":null}',
      '{"auths":null,"credsStore":null}',
      '{"auths":{"127.0.0.1:5000":{"auth":null,"username":null}}}',
      'null',
    ]) {
      const { env } = await dockerConfig(text);
      assert.equal(await findCredentials('127.0.0.1:5000', env), undefined, text);
    }
  });

  test('a null entry for one registry does not hide another registry\'s credentials', async () => {
    const auth = Buffer.from('user:Secret-pass-1').toString('base64');
    const { env } = await dockerConfig(JSON.stringify({ auths: { 'other.example': null, '127.0.0.1:5000': { auth } }, credHelpers: { 'other.example': null } }));
    assert.deepEqual(await findCredentials('127.0.0.1:5000', env), { username: 'user', password: 'Secret-pass-1' });
  });

  test('wrong types are one line naming the file and the field, holding no secret', async () => {
    for (const [text, field] of [
      ['{"auths":[]}', /auths/],
      ['{"auths":{"127.0.0.1:5000":{"auth":5}}}', /auths\.127\.0\.0\.1:5000\.auth/],
      ['{"credHelpers":{"127.0.0.1:5000":["Secret-in-array"]}}', /credHelpers/],
      ['{"credsStore":{"x":"Secret-in-object"}}', /credsStore/],
      ['[1,2]', /\(top\)/],
    ] as const) {
      const { env, file } = await dockerConfig(text);
      await assert.rejects(findCredentials('127.0.0.1:5000', env), (err: unknown) => {
        assert.ok(err instanceof OcitoolError, `${text}: ${String(err)}`);
        assert.ok(err.message.startsWith(`auth file ${file}: `), err.message);
        assert.match(err.message, field);
        assert.doesNotMatch(err.message, /\n|Secret/);
        return true;
      });
    }
  });

  test('an auth file that cannot be read is an error naming it, not "no credentials"', async () => {
    const dir = path.join(work, 'dir-as-file');
    await mkdir(path.join(dir, 'config.json'), { recursive: true });
    const env = { HOME: work, XDG_RUNTIME_DIR: '', XDG_CONFIG_HOME: path.join(work, 'noconfig'), DOCKER_CONFIG: dir };
    await assert.rejects(findCredentials('127.0.0.1:5000', env), (err: OcitoolError) => {
      assert.equal(err.message, `auth file ${path.join(dir, 'config.json')} cannot be read (EISDIR)`);
      return true;
    });
  });
});
