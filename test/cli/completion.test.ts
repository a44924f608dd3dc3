// `ocitool completion bash|zsh|fish`: scripts the shells accept, listing every command and option
// of the program, and completing as a person types (bash and fish run the real completion).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildProgram } from '../../src/cli/main.js';
import { describeProgram, type CommandSpec } from '../../src/cli/commands/completion.js';
import { ocitool, removeDir, run, tempDir } from '../helpers/index.js';

function flatten(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.commands.flatMap(flatten)];
}

async function script(shell: string): Promise<string> {
  const r = await ocitool(['completion', shell]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout;
}

test('every shell script names every command and every option, and the shell parses it', async () => {
  const { program } = await buildProgram([]);
  const spec = describeProgram(program);
  const all = flatten(spec);
  // The program this test walks has every command, including the new ones.
  for (const name of ['pull', 'import-oci', 'completion', 'df', 'version']) assert.ok(spec.commands.some((c) => c.path[0] === name), name);
  const dir = await tempDir();
  try {
    for (const [shell, check] of [['bash', ['-n']], ['zsh', ['-n']], ['fish', ['--no-execute']]] as const) {
      const text = await script(shell);
      for (const cmd of all.slice(1)) assert.match(text, new RegExp(`'${cmd.path.at(-1)}[ ':]`), `${shell}: command ${cmd.path.join(' ')}`);
      for (const cmd of all) {
        for (const option of cmd.options) {
          const long = option.flags.find((f) => f.startsWith('--'))!;
          const spelled = shell === 'fish' ? `-l ${long.slice(2)}` : long;
          assert.ok(text.includes(spelled), `${shell}: option ${long} of ${cmd.path.join(' ') || 'ocitool'}`);
        }
      }
      const file = path.join(dir, `ocitool.${shell}`);
      await writeFile(file, text);
      const r = await run(shell, [...check, file]).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`${shell} is needed for this test (test/setup.sh installs it): ${err.message}`);
      });
      assert.equal(r.code, 0, `${shell} rejects the script: ${r.stderr}`);
    }
  } finally {
    await removeDir(dir);
  }
});

test('bash completes commands, nested commands, options, option values and files', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'ocitool.bash');
    await writeFile(file, await script('bash'));
    await writeFile(path.join(dir, 'layout-a.tar'), '');
    const cases: Array<[string[], string]> = [
      [['ocitool', 'pu'], 'pull push'],
      [['ocitool', 'im'], 'import-oci import-rootfs images'],
      [['ocitool', 'pull', '--pl'], '--platform --plain-http'],
      [['ocitool', '--store', '/x', 'pull', '--platform', 'linux/amd64', '--al'], '--all-platforms'],
      [['ocitool', 'remote', ''], 'arches'],
      [['ocitool', 'remote', 'arches', '--js'], '--json'],
      [['ocitool', 'fsverity-digest', '--hash', ''], 'sha256 sha512'],
      [['ocitool', 'import-oci', `${dir}/layout-`], `${dir}/layout-a.tar`],
      [['ocitool', 'images', '--st'], '--store'],
      [['ocitool', 'completion', 'zsh', '--he'], '--help'],
    ];
    const body = cases.map(([words]) => `comp ${words.map((w) => `'${w}'`).join(' ')}`).join('\n');
    const r = await run('bash', ['-c', `source '${file}'\ncomp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ocitool; echo "\${COMPREPLY[*]}"; }\n${body}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').slice(0, -1), cases.map(([, want]) => want));
  } finally {
    await removeDir(dir);
  }
});

test('zsh offers commands with descriptions, options, option choices and files', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'ocitool.zsh');
    await writeFile(file, await script('zsh'));
    // Stand-ins for the completion system's functions print what they are given (zsh itself
    // filters by the typed prefix); compdef is what compinit provides.
    const harness = [
      'compdef() { :; }',
      '_describe() { print -r -- "${(j: | :)${(@P)${@[-1]}}}" }',
      'compadd() { [[ $1 == -- ]] && shift; print -r -- "$@" }',
      '_files() { print -r -- FILES }',
      `source '${file}'`,
      'comp() { words=("$@"); CURRENT=$#; _ocitool }',
      "comp ocitool ''",
      'comp ocitool remote arches --js',
      "comp ocitool fsverity-digest --hash ''",
      'comp ocitool --store /x import-oci lay',
    ].join('\n');
    const r = await run('zsh', ['-f', '-c', harness]);
    assert.equal(r.code, 0, r.stderr);
    const [commands, options, choices, files] = r.stdout.split('\n');
    assert.match(commands!, /^import-oci:import an image from an OCI image layout .* \| pull:pull an image/);
    assert.match(commands!, /\| df:show the disk space/);
    assert.match(options!, /^--json:print a JSON array \| --plain-http:/);
    assert.equal(choices, 'sha256 sha512');
    assert.equal(files, 'FILES');
  } finally {
    await removeDir(dir);
  }
});

test('fish completes commands and options from the script', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'ocitool.fish');
    await writeFile(file, await script('fish'));
    const r = await run('fish', ['--no-config', '-c', `source '${file}'; complete -C 'ocitool pu'; complete -C 'ocitool pull --all'; complete -C 'ocitool remote '`]);
    assert.equal(r.code, 0, r.stderr);
    const words = r.stdout.split('\n').map((l) => l.split('\t')[0]);
    for (const want of ['pull', '--all-platforms', 'arches']) assert.ok(words.includes(want), `${want} in ${JSON.stringify(words)}`);
  } finally {
    await removeDir(dir);
  }
});

test('an unknown shell is a usage error on one line', async () => {
  const r = await ocitool(['completion', 'tcsh']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'ocitool: completion: unknown shell "tcsh": one of bash, zsh, fish\n');
});
