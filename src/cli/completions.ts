/**
 * `daplaya completions bash|zsh|fish`: a completion script generated from the program's own
 * commands, aliases, options and argument choices, as `--help` shows them (the global options a
 * command has no use for are left out there too), so a new command or flag completes without
 * touching this file. Static: no network, no AWS, nothing read at completion time.
 */
import {
  Argument,
  Command,
  type CommandUnknownOpts,
  type Option,
} from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import type { CliContext } from "./context.ts";
import { usesGlobals } from "./global_options.ts";
import { examples } from "./help.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = typeof SHELLS[number];

export function completionsCommand(ctx: CliContext) {
  return usesGlobals(new Command("completions"), [])
    .summary("print a shell completion script (bash, zsh, fish)")
    .description(
      "print a completion script for the shell on stdout: commands, aliases, options and their choices",
    )
    .addArgument(
      new Argument("<shell>", "the shell").choices(SHELLS).argParser(parseShell),
    )
    .addHelpText(
      "after",
      examples(
        ["bash", "daplaya completions bash > ~/.local/share/bash-completion/completions/daplaya"],
        [
          "zsh: a directory in $fpath, e.g. ~/.zfunc",
          "daplaya completions zsh > ~/.zfunc/_daplaya",
        ],
        ["fish", "daplaya completions fish > ~/.config/fish/completions/daplaya.fish"],
      ),
    )
    .action((shell, _opts, cmd) => {
      ctx.stdout(completionScript(shell, commandTree(cmd.parent!)));
    });
}

function parseShell(value: string): Shell {
  const shell = SHELLS.find((s) => s === value);
  if (!shell) {
    throw new UsageError(
      `unknown shell ${JSON.stringify(value)}: completions are for ${SHELLS.join(", ")}`,
    );
  }
  return shell;
}

export interface OptionNode {
  /** `-h`, `--help`. */
  flags: string[];
  /** Whether it takes a value (`--env <env>`). */
  takesValue: boolean;
  description: string;
}

export interface CommandNode {
  /** Its name, then its aliases; empty for the program itself. */
  names: string[];
  description: string;
  /** Its options and the program's options that apply to it, as its `--help` lists them. */
  options: OptionNode[];
  /** Its arguments in order: the allowed values (empty: any), and whether it takes the rest. */
  args: { name: string; choices: string[]; variadic: boolean }[];
  /** Its subcommands (`freeze add`, …): a command with some takes one of them first. */
  commands: CommandNode[];
}

export interface CommandTree {
  name: string;
  /** The program, its commands in `program.commands`. */
  program: CommandNode;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const FLAG = /^--?[A-Za-z0-9][A-Za-z0-9-]*$/;

/** Reads the program's commands (and theirs) and options the way its help shows them. */
export function commandTree(program: CommandUnknownOpts): CommandTree {
  const node = (cmd: CommandUnknownOpts, names: string[]): CommandNode => {
    const help = cmd.createHelp();
    const options = [...help.visibleOptions(cmd), ...help.visibleGlobalOptions(cmd)];
    return {
      names: names.map((n) => checked(n, NAME)),
      description: oneLine((cmd.parent ?? cmd).createHelp().subcommandDescription(cmd)),
      options: options.map((o) => optionNode(o, help.optionDescription(o))),
      args: cmd.registeredArguments.map((a) => ({
        name: checked(a.name(), NAME),
        choices: (a.argChoices ?? []).map((c) => checked(c, NAME)),
        variadic: a.variadic,
      })),
      commands: help.visibleCommands(cmd).map((c) => node(c, [c.name(), ...c.aliases()])),
    };
  };
  return { name: checked(program.name(), NAME), program: node(program, []) };
}

function optionNode(option: Option, description: string): OptionNode {
  const flags = [option.short, option.long].filter((f): f is string => f !== undefined);
  return {
    flags: flags.map((f) => checked(f, FLAG)),
    takesValue: option.required || option.optional,
    description: oneLine(description),
  };
}

/** Names go into scripts unquoted in places: anything unusual is a bug, not something to quote. */
function checked(word: string, pattern: RegExp): string {
  if (!pattern.test(word)) throw new Error(`cannot complete ${JSON.stringify(word)}`);
  return word;
}

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

export function completionScript(shell: Shell, tree: CommandTree): string {
  return { bash, zsh, fish }[shell](tree);
}

const header = (shell: Shell, name: string) =>
  `# ${shell} completion for ${name}, generated from its commands and options by\n` +
  `# \`${name} completions ${shell}\`.`;

/** Single-quoted for bash and zsh. */
const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

const flagsOf = (options: OptionNode[], which: (o: OptionNode) => boolean = () => true) =>
  options.filter(which).flatMap((o) => o.flags);

/** Every command below `node`, depth first, with the names of the commands on its way. */
function descendants(node: CommandNode, path: string[][] = []): [CommandNode, string[][]][] {
  return node.commands.flatMap((c) => {
    const at = [...path, c.names];
    return [[c, at] as [CommandNode, string[][]], ...descendants(c, at)];
  });
}

/** Every way to spell a path: `[["release", "unlock"]]` -> `["release", "unlock"]`. */
function spellings(path: string[][]): string[] {
  return path.reduce<string[]>(
    (out, names) => out.flatMap((before) => names.map((n) => before ? `${before} ${n}` : n)),
    [""],
  );
}

function bash(tree: CommandTree): string {
  const fn = `_${tree.name.replaceAll(/[.-]/g, "_")}`;
  const spec = (c: CommandNode, path: string[][]) => {
    const rest = c.args.at(-1)?.variadic === true;
    const opts = [...flagsOf(c.options), ...(rest ? ["--"] : [])];
    const args = c.args.map((a) => sq(a.choices.join(" ")));
    const subs = c.commands.flatMap((s) => s.names);
    return [
      `    ${path.length ? spellings(path).map(sq).join("|") : "''"})`,
      `      opts=${sq(opts.join(" "))}`,
      `      valued=${sq(flagsOf(c.options, (o) => o.takesValue).join(" "))}`,
      `      args=(${args.join(" ")}) rest=${rest ? 1 : 0} subs=${sq(subs.join(" "))} ;;`,
    ].join("\n");
  };
  const all: [CommandNode, string[][]][] = [[tree.program, []], ...descendants(tree.program)];
  return `${header("bash", tree.name)}
# Install: ${tree.name} completions bash > ~/.local/share/bash-completion/completions/${tree.name}

# For a command ('' for none yet; 'freeze add' for a subcommand), sets opts (its options), valued
# (those that take a value), args (the choices of each argument, '' for any), rest (1 if the last
# argument takes the rest of the line) and subs (its subcommands: the next word is one of them).
${fn}_spec() {
  case $1 in
${all.map(([c, path]) => spec(c, path)).join("\n")}
    *) return 1 ;;
  esac
}

# Lines of output as COMPREPLY (read -a: bash 3.2 has no mapfile).
${fn}_reply() {
  IFS=$'\\n' read -r -d '' -a COMPREPLY < <("$@")
  return 0
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd= word i n=0 after=0 skip=0 dashdash=0
  local opts valued args rest subs
  COMPREPLY=()
  ${fn}_spec ''
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if ((dashdash)); then
      after=$((after + 1))
    elif ((skip)); then
      # --env=x arrives as three words: --env, =, x
      [[ $word == = ]] || skip=0
    else
      case $word in
        --) dashdash=1 ;;
        =) skip=1 ;;
        -*) [[ " $valued " == *" $word "* ]] && skip=1 ;;
        *)
          if [[ -n $subs ]]; then
            # A command, or a subcommand of the one so far.
            cmd=\${cmd:+$cmd }$word
            ${fn}_spec "$cmd" || return 0
          else
            n=$((n + 1))
          fi
          ;;
      esac
    fi
  done
  # An option's value (an env, a duration, a URL): nothing to offer.
  ((skip)) && return 0
  if ((dashdash)); then
    ((rest)) || return 0
    if ((after == 0)); then
      ${fn}_reply compgen -c -- "$cur"
    else
      compopt -o filenames 2>/dev/null
      ${fn}_reply compgen -f -- "$cur"
    fi
    return 0
  fi
  if [[ $cur != -* ]]; then
    if [[ -n $subs ]]; then
      ${fn}_reply compgen -W "$subs" -- "$cur"
      return 0
    fi
    if ((n < \${#args[@]})) && [[ -n \${args[n]} ]]; then
      ${fn}_reply compgen -W "\${args[n]}" -- "$cur"
      return 0
    fi
  fi
  ${fn}_reply compgen -W "$opts" -- "$cur"
}

complete -F ${fn} ${tree.name}
`;
}

/** Text inside an `_arguments` option's [description]. */
const zshBracket = (s: string) => s.replace(/[\\\]\[:]/g, (c) => `\\${c}`);

function zsh(tree: CommandTree): string {
  const fn = `_${tree.name.replaceAll(/[.-]/g, "_")}`;
  const optionSpecs = (c: CommandNode) =>
    c.options.flatMap((o) =>
      o.flags.map((flag) =>
        sq(
          `${flag}[${zshBracket(o.description)}]${
            o.takesValue ? `:${o.flags.at(-1)!.replace(/^-+/, "")}: ` : ""
          }`,
        )
      )
    );
  const argSpecs = (c: CommandNode) =>
    c.args.map((a, i) =>
      sq(
        a.variadic
          ? `*::${a.name}: _normal`
          : `${i + 1}:${a.name}:${a.choices.length ? `(${a.choices.join(" ")})` : " "}`,
      )
    );
  const call = (specs: string[], indent: string, flags = "-S") =>
    `_arguments ${flags} \\\n${specs.map((s) => `${indent}  ${s}`).join(" \\\n")}`;
  // A command's completion: its options and arguments; or, for one with subcommands (the
  // program too), its options and a subcommand, then that one's completion, and so on.
  const body = (c: CommandNode, path: string[], indent: string): string => {
    if (c.commands.length === 0) {
      return `${call([...optionSpecs(c), ...argSpecs(c)], indent)} && ret=0`;
    }
    const i = indent;
    const described = c.commands.flatMap((s) =>
      s.names.map((n) => `${i}      ${sq(`${n}:${s.description}`)}`)
    );
    const cases = c.commands.map((s) =>
      `${i}      (${s.names.join("|")})\n${i}        ${
        body(s, [...path, s.names[0]], `${i}        `)
      }\n${i}        ;;`
    );
    const specs = [...optionSpecs(c), sq("1:command:->command"), sq("*::argument:->argument")];
    return `${call(specs, i, "-C -S")} && ret=0
${i}case $state in
${i}  (command)
${i}    local -a commands=(
${described.join("\n")}
${i}    )
${i}    _describe -t commands ${sq(`${path.join(" ")} command`)} commands && ret=0
${i}    ;;
${i}  (argument)
${i}    curcontext=\${curcontext%:*:*}:${path.join("-")}-$words[1]:
${i}    case $words[1] in
${cases.join("\n")}
${i}    esac
${i}    ;;
${i}esac`;
  };
  return `#compdef ${tree.name}
${header("zsh", tree.name)}
# Install: into a directory of fpath as _${tree.name}, e.g. ~/.zfunc with fpath=(~/.zfunc $fpath)
# before compinit in ~/.zshrc: ${tree.name} completions zsh > ~/.zfunc/_${tree.name}

${fn}() {
  local curcontext=$curcontext state state_descr line ret=1
  typeset -A opt_args
  ${body(tree.program, [tree.name], "  ")}
  return ret
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${tree.name}
fi
`;
}

/** Single-quoted for fish. */
const fq = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

function fish(tree: CommandTree): string {
  const p = `__${tree.name.replaceAll(/[.-]/g, "_")}`;
  const complete = (condition: string, rest: string) =>
    `complete -c ${tree.name} -n ${fq(condition)} ${rest}`;
  const optionLines = (c: CommandNode, condition: string) =>
    c.options.map((o) => {
      const flags = o.flags.map((f) =>
        f.startsWith("--") ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`
      );
      return complete(
        condition,
        `${flags.join(" ")}${o.takesValue ? " -x" : ""} -d ${fq(o.description)}`,
      );
    });
  /** `freeze add`: the command is freeze, and the next word add. */
  const using = (path: string[][]) =>
    path.map((names, i) =>
      i === 0 ? `${p}_using ${names.join(" ")}` : `${p}_at ${i + 1} ${names.join(" ")}`
    )
      .join("; and ");
  const commandLines = descendants(tree.program).flatMap(([c, path]) => {
    const at = using(path);
    const rest = c.args.at(-1)?.variadic === true;
    // Before a subcommand is on the line: the subcommands, and the command's own options.
    const subs = c.commands.flatMap((s) => s.names);
    const here = subs.length ? `${at}; and not ${p}_at ${path.length + 1} ${subs.join(" ")}` : at;
    return [
      ...optionLines(c, here),
      ...c.commands.flatMap((s) =>
        s.names.map((n) => complete(here, `-a ${n} -d ${fq(s.description)}`))
      ),
      // Argument choices (any argument: fish's conditions do not count positions).
      ...c.args.filter((a) => a.choices.length).map((a) =>
        complete(`${at}; and not ${p}_dashdash`, `-a ${fq(a.choices.join(" "))}`)
      ),
      // After --, a command and its arguments: files.
      ...(rest ? [complete(`${at}; and ${p}_dashdash`, "-F")] : []),
    ];
  });
  const topLines = tree.program.commands.flatMap((c) =>
    c.names.map((n) => complete(`not ${p}_command`, `-a ${n} -d ${fq(c.description)}`))
  );
  const valued = flagsOf(tree.program.options, (o) => o.takesValue);
  return `${header("fish", tree.name)}
# Install: ${tree.name} completions fish > ~/.config/fish/completions/${tree.name}.fish

# The words on the line before --, leaving out options and the values of the program's options:
# the command, its subcommand if any, then its arguments (and option values).
function ${p}_words
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case -- --
                return 0${
    valued.length
      ? `\n            case ${valued.map(fq).join(" ")}\n                set skip 1`
      : ""
  }
            case '-*'
            case '*'
                echo $word
        end
    end
end

# The command on the line: the first of those words.
function ${p}_command
    set -l words (${p}_words)
    set -q words[1]; or return 1
    echo $words[1]
end

# Whether the word at position $argv[1] of those is one of the other arguments.
function ${p}_at
    set -l words (${p}_words)
    set -q words[$argv[1]]; or return 1
    contains -- $words[$argv[1]] $argv[2..-1]
end

# Whether the command on the line is one of the arguments.
function ${p}_using
    ${p}_at 1 $argv
end

# Whether -- is on the line: what follows is a command and its arguments.
function ${p}_dashdash
    contains -- -- (commandline -opc)
end

complete -c ${tree.name} -f
${optionLines(tree.program, `not ${p}_command`).join("\n")}
${[...topLines, ...commandLines].join("\n")}
`;
}
