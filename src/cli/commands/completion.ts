/**
 * `ocitool completion bash|zsh|fish`: a shell completion script generated from the commander
 * program itself (every command, subcommand and option, and the choices of options that have
 * them), so it cannot fall behind the commands. Option values and arguments complete file names.
 */
import type { Command, Option } from 'commander';
import { OcitoolError } from '../../errors.js';
import type { CliContext } from '../context.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export interface OptionSpec {
  /** `--store`, `-q`: every spelling. */
  flags: string[];
  takesValue: boolean;
  choices?: string[];
  description: string;
}

export interface CommandSpec {
  /** Names from the program down: [] for the program, ['remote', 'arches'] for a subcommand. */
  path: string[];
  description: string;
  options: OptionSpec[];
  commands: CommandSpec[];
  /** Whether it takes positional arguments (completed as files). */
  takesArguments: boolean;
}

const HELP: OptionSpec = { flags: ['-h', '--help'], takesValue: false, description: 'display help for command' };

function optionSpec(option: Option): OptionSpec {
  const flags = [option.short, option.long].filter((f): f is string => Boolean(f));
  return {
    flags,
    takesValue: option.required || option.optional,
    ...(option.argChoices ? { choices: [...option.argChoices] } : {}),
    description: option.description,
  };
}

/** The program as data: what the generators walk. */
export function describeProgram(cmd: Command, path: string[] = []): CommandSpec {
  const hidden = (o: Option) => (o as Option & { hidden?: boolean }).hidden === true;
  return {
    path,
    description: cmd.description(),
    options: [...cmd.options.filter((o) => !hidden(o)).map(optionSpec), HELP],
    commands: cmd.commands.map((sub) => describeProgram(sub, [...path, sub.name()])),
    takesArguments: (cmd as Command & { registeredArguments: readonly unknown[] }).registeredArguments.length > 0,
  };
}

function flatten(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.commands.flatMap(flatten)];
}

export function completionScript(shell: Shell, program: CommandSpec, name = 'ocitool'): string {
  switch (shell) {
    case 'bash':
      return bashScript(program, name);
    case 'zsh':
      return zshScript(program, name);
    case 'fish':
      return fishScript(program, name);
  }
}

const fn = (name: string) => `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
/** A shell word in single quotes (bash, zsh). */
const sq = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * Case tables shared by bash and zsh (same syntax): for a command path and a word, whether the
 * word is a subcommand or an option taking a value, and the words to offer. Global options
 * (the program's) are valid at every level.
 */
function caseTables(program: CommandSpec, f: string): string {
  const all = flatten(program);
  const key = (spec: CommandSpec) => sq(spec.path.join(' '));
  const globals = program.options;
  const lines: string[] = [];
  lines.push(`${f}_subcommands() {`, '  case "$1" in');
  for (const spec of all) if (spec.commands.length) lines.push(`    ${key(spec)}) echo ${sq(spec.commands.map((c) => c.path.at(-1)!).join(' '))} ;;`);
  lines.push('  esac', '}');
  lines.push(`${f}_options() {`, '  case "$1" in');
  for (const spec of all) {
    const flags = [...spec.options, ...(spec.path.length ? globals.filter((g) => g !== HELP) : [])].flatMap((o) => o.flags.filter((x) => x.startsWith('--')).concat(o.flags.filter((x) => !x.startsWith('--'))));
    lines.push(`    ${key(spec)}) echo ${sq([...new Set(flags)].join(' '))} ;;`);
  }
  lines.push('  esac', '}');
  lines.push(`${f}_arguments() {`, '  case "$1" in');
  const withArgs = all.filter((s) => s.takesArguments);
  if (withArgs.length) lines.push(`    ${withArgs.map(key).join('|')}) return 0 ;;`);
  lines.push('  esac', '  return 1', '}');
  // "path|option" of every option that takes a value, and its choices if any.
  lines.push(`${f}_takes_value() {`, '  case "$1|$2" in');
  const valued: string[] = [];
  for (const o of globals) if (o.takesValue) for (const flag of o.flags) valued.push(`*${sq(`|${flag}`)}`);
  for (const spec of all) for (const o of spec.options) if (o.takesValue) for (const flag of o.flags) valued.push(sq(`${spec.path.join(' ')}|${flag}`));
  if (valued.length) lines.push(`    ${valued.join('|')}) return 0 ;;`);
  lines.push('  esac', '  return 1', '}');
  lines.push(`${f}_choices() {`, '  case "$1|$2" in');
  for (const o of globals) if (o.choices) lines.push(`    ${o.flags.map((flag) => `*${sq(`|${flag}`)}`).join('|')}) echo ${sq(o.choices.join(' '))} ;;`);
  for (const spec of all) for (const o of spec.options) if (o.choices) lines.push(`    ${o.flags.map((flag) => sq(`${spec.path.join(' ')}|${flag}`)).join('|')}) echo ${sq(o.choices.join(' '))} ;;`);
  lines.push('  esac', '}');
  return lines.join('\n');
}

/**
 * The command path typed so far, from words[start..end): words that name subcommands, skipping
 * options and the values of options that take one. Sets `cmdpath` (bash and zsh syntax; zsh's
 * `path` is $PATH).
 */
function pathLoop(f: string, wordsVar: string, start: string, end: string): string {
  return [
    '  local cmdpath="" w i',
    `  for ((i = ${start}; i < ${end}; i++)); do`,
    `    w="\${${wordsVar}[i]}"`,
    '    if [[ $w == -* ]]; then',
    `      if [[ $w != *=* ]] && ${f}_takes_value "$cmdpath" "$w"; then ((i++)); fi`,
    '      continue',
    '    fi',
    `    case " $(${f}_subcommands "$cmdpath") " in`,
    '      *" $w "*) cmdpath="${cmdpath:+$cmdpath }$w" ;;',
    '    esac',
    '  done',
  ].join('\n');
}

function bashScript(program: CommandSpec, name: string): string {
  const f = fn(name);
  return `# bash completion for ${name}, generated by \`${name} completion bash\`.
# Load it with: source <(${name} completion bash)   (or save it under
# ~/.local/share/bash-completion/completions/${name})
${caseTables(program, f)}
${f}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev=""
  ((COMP_CWORD > 0)) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
${pathLoop(f, 'COMP_WORDS', '1', 'COMP_CWORD')}
  COMPREPLY=()
  if [[ $prev == -* ]] && ${f}_takes_value "$cmdpath" "$prev"; then
    local choices
    choices="$(${f}_choices "$cmdpath" "$prev")"
    if [[ -n $choices ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
    else
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(${f}_options "$cmdpath")" -- "$cur")
    return 0
  fi
  local subs
  subs="$(${f}_subcommands "$cmdpath")"
  if [[ -n $subs ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
  elif ${f}_arguments "$cmdpath"; then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
  return 0
}
complete -F ${f} ${name}
`;
}

/** zsh: the same tables, with descriptions for commands and options. */
function zshScript(program: CommandSpec, name: string): string {
  const f = fn(name);
  const all = flatten(program);
  const esc = (text: string) => text.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  const described: string[] = [`${f}_described() {`, '  case "$1" in'];
  for (const spec of all) {
    const entries = [
      ...spec.commands.map((c) => `${esc(c.path.at(-1)!)}:${c.description}`),
    ];
    const options = [...spec.options, ...(spec.path.length ? program.options.filter((g) => g !== HELP) : [])].flatMap((o) => o.flags.map((flag) => `${esc(flag)}:${o.description}`));
    described.push(`    ${sq(`${spec.path.join(' ')}|commands`)}) items=(${entries.map(sq).join(' ')}) ;;`);
    described.push(`    ${sq(`${spec.path.join(' ')}|options`)}) items=(${options.map(sq).join(' ')}) ;;`);
  }
  described.push('    *) items=() ;;', '  esac', '}');
  return `#compdef ${name}
# zsh completion for ${name}, generated by \`${name} completion zsh\`.
# Load it with: source <(${name} completion zsh)   (or save it as _${name} in a folder of $fpath)
${caseTables(program, f)}
${described.join('\n')}
${f}() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}"
  local -a items
${pathLoop(f, 'words', '2', 'CURRENT')}
  if [[ $prev == -* ]] && ${f}_takes_value "$cmdpath" "$prev"; then
    local choices
    choices="$(${f}_choices "$cmdpath" "$prev")"
    if [[ -n $choices ]]; then compadd -- \${=choices}; else _files; fi
    return
  fi
  if [[ $cur == -* ]]; then
    ${f}_described "$cmdpath|options"
    _describe -t options option items
    return
  fi
  if [[ -n "$(${f}_subcommands "$cmdpath")" ]]; then
    ${f}_described "$cmdpath|commands"
    _describe -t commands command items
  elif ${f}_arguments "$cmdpath"; then
    _files
  fi
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  ${f} "$@"
else
  compdef ${f} ${name}
fi
`;
}

/** fish: one `complete` line per command and option, conditioned on the subcommands seen. */
function fishScript(program: CommandSpec, name: string): string {
  const q = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = [`# fish completion for ${name}, generated by \`${name} completion fish\`.`, `# Load it with: ${name} completion fish | source   (or save it as ~/.config/fish/completions/${name}.fish)`, `complete -c ${name} -f`];
  const condition = (spec: CommandSpec): string => {
    if (spec.path.length === 0) return '__fish_use_subcommand';
    const parts = [`__fish_seen_subcommand_from ${spec.path.at(-1)}`];
    if (spec.path.length > 1) parts.unshift(`__fish_seen_subcommand_from ${spec.path.at(-2)}`);
    if (spec.commands.length) parts.push(`not __fish_seen_subcommand_from ${spec.commands.map((c) => c.path.at(-1)).join(' ')}`);
    return parts.join('; and ');
  };
  const optionLine = (cond: string, o: OptionSpec) => {
    const spellings = o.flags.map((flag) => (flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`)).join(' ');
    const value = o.choices ? ` -x -a ${q(o.choices.join(' '))}` : o.takesValue ? ' -r -F' : '';
    return `complete -c ${name} -n ${q(cond)} ${spellings}${value} -d ${q(o.description)}`;
  };
  for (const o of program.options) lines.push(`complete -c ${name} ${o.flags.map((flag) => (flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`)).join(' ')}${o.choices ? ` -x -a ${q(o.choices.join(' '))}` : o.takesValue ? ' -r -F' : ''} -d ${q(o.description)}`);
  for (const spec of flatten(program)) {
    const cond = condition(spec);
    for (const sub of spec.commands) lines.push(`complete -c ${name} -n ${q(cond)} -a ${q(sub.path.at(-1)!)} -d ${q(sub.description)}`);
    if (spec.path.length === 0) continue;
    for (const o of spec.options) if (o !== HELP) lines.push(optionLine(cond, o));
    if (spec.takesArguments && spec.commands.length === 0) lines.push(`complete -c ${name} -n ${q(cond)} -F`);
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .argument('<shell>', `shell: ${SHELLS.join(', ')}`)
    .description('print a shell completion script for bash, zsh or fish')
    .addHelpText('after', `\nExamples:\n  $ source <(ocitool completion bash)        # in ~/.bashrc\n  $ ocitool completion zsh > "\${fpath[1]}/_ocitool"\n  $ ocitool completion fish > ~/.config/fish/completions/ocitool.fish\n`)
    .action(async (shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new OcitoolError('USAGE', `completion: unknown shell "${shell}": one of ${SHELLS.join(', ')}`);
      // The running program has only this command loaded (main loads one command's module):
      // build the whole program to describe it.
      const { buildProgram } = await import('../main.js');
      const { program: full } = await buildProgram([]);
      ctx.stdout.write(completionScript(shell as Shell, describeProgram(full), full.name()));
    });
}
