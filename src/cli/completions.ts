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
}

export interface CommandTree {
  name: string;
  program: CommandNode;
  commands: CommandNode[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const FLAG = /^--?[A-Za-z0-9][A-Za-z0-9-]*$/;

/** Reads the program's commands and options the way its help shows them. */
export function commandTree(program: CommandUnknownOpts): CommandTree {
  const node = (cmd: CommandUnknownOpts, names: string[]): CommandNode => {
    const help = cmd.createHelp();
    const options = [...help.visibleOptions(cmd), ...help.visibleGlobalOptions(cmd)];
    return {
      names: names.map((n) => checked(n, NAME)),
      description: oneLine(program.createHelp().subcommandDescription(cmd)),
      options: options.map((o) => optionNode(o, help.optionDescription(o))),
      args: cmd.registeredArguments.map((a) => ({
        name: checked(a.name(), NAME),
        choices: (a.argChoices ?? []).map((c) => checked(c, NAME)),
        variadic: a.variadic,
      })),
    };
  };
  const visible = program.createHelp().visibleCommands(program);
  return {
    name: checked(program.name(), NAME),
    program: node(program, []),
    commands: visible.map((c) => node(c, [c.name(), ...c.aliases()])),
  };
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

function bash(tree: CommandTree): string {
  const fn = `_${tree.name.replaceAll(/[.-]/g, "_")}`;
  const spec = (c: CommandNode) => {
    const rest = c.args.at(-1)?.variadic === true;
    const opts = [...flagsOf(c.options), ...(rest ? ["--"] : [])];
    const args = c.args.map((a) => sq(a.choices.join(" ")));
    return [
      `    ${c.names.length ? c.names.join("|") : "''"})`,
      `      opts=${sq(opts.join(" "))}`,
      `      valued=${sq(flagsOf(c.options, (o) => o.takesValue).join(" "))}`,
      `      args=(${args.join(" ")}) rest=${rest ? 1 : 0} ;;`,
    ].join("\n");
  };
  const names = tree.commands.flatMap((c) => c.names).join(" ");
  return `${header("bash", tree.name)}
# Install: ${tree.name} completions bash > ~/.local/share/bash-completion/completions/${tree.name}

# For a command name ('' for none yet), sets opts (its options), valued (those that take a
# value), args (the choices of each argument, '' for any) and rest (1 if the last argument takes
# the rest of the line).
${fn}_spec() {
  case $1 in
${[tree.program, ...tree.commands].map(spec).join("\n")}
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
  local opts valued args rest
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
          if [[ -z $cmd ]]; then
            cmd=$word
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
    if [[ -z $cmd ]]; then
      ${fn}_reply compgen -W ${sq(names)} -- "$cur"
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
  const described = tree.commands.flatMap((c) =>
    c.names.map((n) => `        ${sq(`${n}:${c.description}`)}`)
  );
  const cases = tree.commands.map((c) =>
    `        (${c.names.join("|")})\n          ${
      call([...optionSpecs(c), ...argSpecs(c)], "          ")
    } && ret=0\n          ;;`
  );
  return `#compdef ${tree.name}
${header("zsh", tree.name)}
# Install: into a directory of fpath as _${tree.name}, e.g. ~/.zfunc with fpath=(~/.zfunc $fpath)
# before compinit in ~/.zshrc: ${tree.name} completions zsh > ~/.zfunc/_${tree.name}

${fn}() {
  local curcontext=$curcontext state state_descr line ret=1
  typeset -A opt_args
  ${
    call(
      [...optionSpecs(tree.program), sq("1:command:->command"), sq("*::argument:->argument")],
      "  ",
      "-C -S",
    )
  } && ret=0
  case $state in
    (command)
      local -a commands=(
${described.join("\n")}
      )
      _describe -t commands ${sq(`${tree.name} command`)} commands && ret=0
      ;;
    (argument)
      curcontext=\${curcontext%:*:*}:${tree.name}-$words[1]:
      case $words[1] in
${cases.join("\n")}
      esac
      ;;
  esac
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
  const commandLines = tree.commands.flatMap((c) => {
    const using = `${p}_using ${c.names.join(" ")}`;
    const rest = c.args.at(-1)?.variadic === true;
    return [
      ...c.names.map((n) => complete(`not ${p}_command`, `-a ${n} -d ${fq(c.description)}`)),
      ...optionLines(c, using),
      // Argument choices (any argument: fish's conditions do not count positions).
      ...c.args.filter((a) => a.choices.length).map((a) =>
        complete(`${using}; and not ${p}_dashdash`, `-a ${fq(a.choices.join(" "))}`)
      ),
      // After --, a command and its arguments: files.
      ...(rest ? [complete(`${using}; and ${p}_dashdash`, "-F")] : []),
    ];
  });
  const valued = flagsOf(tree.program.options, (o) => o.takesValue);
  return `${header("fish", tree.name)}
# Install: ${tree.name} completions fish > ~/.config/fish/completions/${tree.name}.fish

# The command on the line: the first word that is neither an option nor an option's value.
function ${p}_command
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
                return 1${
    valued.length
      ? `\n            case ${valued.map(fq).join(" ")}\n                set skip 1`
      : ""
  }
            case '-*'
            case '*'
                echo $word
                return 0
        end
    end
    return 1
end

# Whether the command on the line is one of the arguments.
function ${p}_using
    set -l command (${p}_command); or return 1
    contains -- $command $argv
end

# Whether -- is on the line: what follows is a command and its arguments.
function ${p}_dashdash
    contains -- -- (commandline -opc)
end

complete -c ${tree.name} -f
${optionLines(tree.program, `not ${p}_command`).join("\n")}
${commandLines.join("\n")}
`;
}
