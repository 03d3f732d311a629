/**
 * Help and shell: every command's `--help` (examples, required flags, defaults, only the global
 * options it uses), and `daplaya completions bash|zsh|fish`, whose scripts are run in the real
 * shells: bash always; zsh and fish when installed (`apt-get install -y zsh fish`), else those
 * steps are reported as ignored, with the reason in their name.
 */
import assert from "node:assert/strict";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { SHELLS } from "../../src/cli/completions.ts";
import type { CliContext } from "../../src/cli/context.ts";
import { DEFAULT_INTERVAL_MS } from "../../src/cli/lock.ts";
import { buildProgram, runCli } from "../../src/cli/program.ts";
import { DEFAULT_GRACE_MS, DEFAULT_RUN_LEASE_MS } from "../../src/cli/run.ts";
import { formatDuration } from "../../src/core/text.ts";

const INFO = { version: "9.8.7", target: "test-target", deno: "0.0.0" };

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** A context in which help and completions may only print: anything else is a failure. */
function printOnly(out: { stdout: string; stderr: string }): CliContext {
  const never = (what: string) => () => {
    throw new Error(`help and completions must not ${what}`);
  };
  return {
    env: () => undefined,
    stdout: (text) => void (out.stdout += text),
    stderr: (text) => void (out.stderr += text),
    openStore: never("open the store"),
    clock: { now: never("read the clock"), monotonic: never("read the clock") },
    sleep: never("sleep"),
    git: never("ask git"),
    hostname: never("ask the hostname"),
    cwd: "/nonexistent",
    programExists: never("look for a program"),
    spawn: never("spawn"),
    onStopSignal: never("listen to signals"),
    serve: never("serve"),
  };
}

async function cli(...args: string[]): Promise<Outcome> {
  const out = { stdout: "", stderr: "" };
  const code = await runCli(args, printOnly(out), INFO);
  return { code, ...out };
}

/** The program's commands, as the completions must see them. */
function commands(): CommandUnknownOpts[] {
  const program = buildProgram(printOnly({ stdout: "", stderr: "" }), INFO);
  return [...program.commands];
}

/** Every command, subcommands (`freeze add`) too, with the words that name it. */
function everyCommand(): { path: string[]; cmd: CommandUnknownOpts }[] {
  const below = (
    cmd: CommandUnknownOpts,
    path: string[],
  ): { path: string[]; cmd: CommandUnknownOpts }[] =>
    cmd.commands.flatMap((c) => [
      { path: [...path, c.name()], cmd: c },
      ...below(c, [...path, c.name()]),
    ]);
  return below(buildProgram(printOnly({ stdout: "", stderr: "" }), INFO), []);
}

/** One option's entry in a help text, its wrapped lines joined: `--ttl <duration>  lease: …`. */
function entry(help: string, flag: string): string {
  const lines = help.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^  (-\\w, )?${flag}\\b`).test(l));
  assert.ok(start >= 0, `${flag} is not in\n${help}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => !/^ {4,}\S/.test(l));
  return [lines[start], ...rest.slice(0, end < 0 ? rest.length : end)]
    .map((l) => l.trim()).join(" ");
}

/**
 * Flags marked (required), with the arguments that make the command otherwise complete, so that
 * leaving the flag out must be refused. A command that marks a flag not listed here fails the
 * test: add it, so the mark is checked against what the command does.
 */
const REQUIRED: Record<string, { flag: string; rest: string[] }[]> = {
  lock: [{ flag: "--env", rest: ["--user", "u", "--no-wait"] }],
  run: [{ flag: "--env", rest: ["--user", "u", "--", "true"] }],
  release: [{ flag: "--env", rest: ["--user", "u"] }],
  check: [{ flag: "--env", rest: ["--id", "x"] }],
  "freeze add": [
    { flag: "--env", rest: ["--reason", "r", "--weekly", "Fri 15:00-Mon 09:00", "--user", "u"] },
    { flag: "--reason", rest: ["--env", "e", "--weekly", "Fri 15:00-Mon 09:00", "--user", "u"] },
  ],
  "freeze remove": [
    { flag: "--env", rest: ["--id", "k3x9qa"] },
    { flag: "--id", rest: ["--env", "e"] },
  ],
  "policy set": [{ flag: "--env", rest: ["--require-meta"] }],
  "policy show": [{ flag: "--env", rest: [] }],
};

Deno.test("--help of every command", async (t) => {
  const all = commands();
  assert.ok(all.length >= 7, all.map((c) => c.name()).join());
  const every = everyCommand();
  assert.ok(every.some(({ path }) => path.join(" ") === "freeze add"), "subcommands are seen");

  for (const { path, cmd } of every) {
    const parents = path.slice(0, -1);
    const title = path.join(" ");
    await t.step(`${title} --help: exit 0, an example, required flags marked`, async () => {
      for (const name of [cmd.name(), ...cmd.aliases()]) {
        const r = await cli(...parents, name, "--help");
        assert.deepEqual([r.code, r.stderr], [0, ""], name);
        assert.match(r.stdout, new RegExp(`^Usage: daplaya ${title}\\b`), name);
        assert.match(r.stdout, /\nExamples:\n/, `${name} --help has no example`);
        const names = [cmd.name(), ...cmd.aliases()].join("|");
        const words = [...parents, `(${names})`].join(" ");
        assert.match(r.stdout, new RegExp(`^  \\$ .*daplaya ${words}\\b`, "m"), name);
      }
      const help = (await cli(...path, "--help")).stdout;
      const marked = help.split("\n").filter((l) => /^ {2}-.*\(required\)/.test(l))
        .map((l) => l.trim().split(/[ ,]/)[0]);
      const expected = REQUIRED[title] ?? [];
      assert.deepEqual(marked, expected.map((r) => r.flag), `${title}: see REQUIRED`);
      for (const { flag, rest } of expected) {
        assert.match(entry(help, flag), new RegExp(`^${flag} <\\w+> +\\(required\\) `));
        const r = await cli(...path, ...rest);
        assert.equal(r.code, 2, `${title} without ${flag}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^daplaya: [^\\n]*${flag}[^\\n]*\\n$`));
      }
    });
  }

  await t.step("a command with subcommands: alone, its help on stderr and exit 2", async () => {
    for (const group of every.filter(({ cmd }) => cmd.commands.length > 0)) {
      const r = await cli(...group.path);
      assert.equal(r.code, 2, group.path.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^Usage: daplaya ${group.path.join(" ")} `));
      const names = group.cmd.commands.map((c) => c.name());
      for (const name of names) assert.match(r.stderr, new RegExp(`\\n  ${name} `), name);
      const typo = await cli(...group.path, `${names[0]}x`);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /^daplaya: unknown command '\w+': did you mean \w+\? [^\n]*\n$/);
    }
  });

  await t.step("defaults applied in code are shown", async () => {
    assert.equal(formatDuration(DEFAULT_RUN_LEASE_MS), "2m");
    assert.equal(formatDuration(DEFAULT_INTERVAL_MS), "5s");
    assert.equal(formatDuration(DEFAULT_GRACE_MS), "10s");
    const run = (await cli("run", "--help")).stdout;
    assert.match(entry(run, "--ttl"), /\(default 2m\b/);
    assert.match(entry(run, "--interval"), /\(default 5s\)/);
    assert.match(entry(run, "--grace"), /\(default 10s\b/);
    const lock = (await cli("lock", "--help")).stdout;
    assert.match(entry(lock, "--ttl"), /\(default none: the lock stays until released\)/);
    assert.match(entry(lock, "--interval"), /\(default 5s\)/);
    assert.match(entry(lock, "--timeout"), /\(default: wait indefinitely\)/);
    assert.match(entry((await cli("locks", "--help")).stdout, "--limit"), /\(default 20\)/);
    const serve = (await cli("serve", "--help")).stdout;
    assert.match(entry(serve, "--port"), /\(default 3000\)/);
    assert.match(entry(serve, "--hostname"), /\(default 0\.0\.0\.0\)/);
  });

  await t.step("daplaya --help: one line per command, and examples", async () => {
    const r = await cli("--help");
    assert.deepEqual([r.code, r.stderr], [0, ""]);
    const section = r.stdout.split("\nCommands:\n")[1]?.split("\n\n")[0] ?? "";
    const lines = section.split("\n");
    assert.equal(lines.length, all.length, `a description wraps:\n${section}`);
    all.forEach((cmd, i) => {
      assert.ok(lines[i].startsWith(`  ${[cmd.name(), ...cmd.aliases()].join("|")} `), lines[i]);
      assert.match(lines[i], /\S {2,}\S/, `${cmd.name()} has no description`);
    });
    const examples = r.stdout.split("\nExamples:\n")[1] ?? "";
    assert.ok(examples.match(/^ {2}\$ daplaya /gm)!.length >= 2, r.stdout);
  });
});

Deno.test("a command's --help lists only the global options it uses", async (t) => {
  const listed = async (...cmd: string[]) => {
    const help = (await cli(...cmd, "--help")).stdout;
    const globals = help.split("\nGlobal Options:\n")[1]?.split("\n\n")[0] ?? "";
    return ["--table", "--region", "--endpoint", "--profile", "--json"].filter((f) =>
      new RegExp(`^  ${f}\\b`, "m").test(globals)
    );
  };
  await t.step("serve and run print no JSON; completions opens no table", async () => {
    const store = ["--table", "--region", "--endpoint", "--profile"];
    assert.deepEqual(await listed("serve"), store);
    assert.deepEqual(await listed("run"), store);
    assert.deepEqual(await listed("completions"), []);
    for (const cmd of ["init", "lock", "locks", "release", "check"]) {
      assert.deepEqual(await listed(cmd), [...store, "--json"], cmd);
    }
    for (const cmd of ["freeze add", "freeze list", "freeze remove", "policy set", "policy show"]) {
      assert.deepEqual(await listed(...cmd.split(" ")), [...store, "--json"], cmd);
    }
  });
  await t.step("given anyway, before or after the command: one line, exit 2", async () => {
    const cases: [string[], string][] = [
      [["serve", "--json"], "--json does not apply to serve (see 'daplaya serve --help')"],
      [["--json", "serve", "--port", "0"], "--json does not apply to serve"],
      [["run", "--env", "x", "--json", "--", "true"], "--json does not apply to run"],
      [["completions", "bash", "--table", "T"], "--table does not apply to completions"],
      [["--region", "eu-west-1", "completions", "zsh"], "--region does not apply to completions"],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^daplaya: [^\n]+\n$/);
      assert.ok(r.stderr.startsWith(`daplaya: ${message}`), r.stderr);
    }
  });
  await t.step("after --, a flag is the command's, not ours", async () => {
    // run's command may take --json; daplaya reaches `run`'s checks (here: a missing --env).
    const r = await cli("run", "--", "jq", "--json");
    assert.equal(r.stderr, "daplaya: missing --env: name the environment, e.g. --env production\n");
  });
});

/** Every name and alias of every command (subcommands too), and every flag (own or global). */
function wordsToComplete(): { names: string[]; flags: string[] } {
  const all = everyCommand().map(({ cmd }) => cmd);
  const program = all[0].parent!;
  return {
    names: all.flatMap((c) => [c.name(), ...c.aliases()]),
    flags: [...new Set(all.flatMap((c) => [...c.options, ...program.options]))]
      .map((o) => o.long!),
  };
}

Deno.test("daplaya completions", async (t) => {
  const { names, flags } = wordsToComplete();
  assert.ok(names.includes("unlock") && names.includes("completions"), names.join());
  assert.ok(names.includes("remove") && names.includes("show"), names.join());
  assert.ok(flags.includes("--env") && flags.includes("--no-wait"), flags.join());
  assert.ok(flags.includes("--weekly") && flags.includes("--default-ttl"), flags.join());

  for (const shell of SHELLS) {
    await t.step(`${shell}: every command, alias and flag is in the script`, async () => {
      const r = await cli("completions", shell);
      assert.deepEqual([r.code, r.stderr], [0, ""]);
      assert.ok(r.stdout.startsWith(shell === "zsh" ? "#compdef daplaya\n" : "# "));
      for (const name of names) assert.match(r.stdout, new RegExp(`\\b${name}\\b`), name);
      for (const flag of flags) {
        // fish spells --env as `-l env`
        const spelled = shell === "fish" ? `-l ${flag.slice(2)} ` : `${flag}`;
        assert.ok(r.stdout.includes(spelled), `${shell}: ${spelled}`);
      }
    });
  }

  await t.step("an unknown or missing shell: one line, exit 2", async () => {
    for (const args of [["completions", "powershell"], ["completions"]]) {
      const r = await cli(...args);
      assert.deepEqual([r.code, r.stdout], [2, ""], args.join(" "));
      assert.match(r.stderr, /^daplaya: [^\n]+\n$/);
    }
    assert.equal(
      (await cli("completions", "powershell")).stderr,
      'daplaya: unknown shell "powershell": completions are for bash, zsh, fish\n',
    );
  });
});

/** Whether `program` can be started; false when it is not installed. */
async function installed(program: string): Promise<boolean> {
  try {
    await new Deno.Command(program, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return true;
  } catch {
    return false;
  }
}

async function output(program: string, args: string[], cwd?: string): Promise<Outcome> {
  const out = await new Deno.Command(program, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // A stuck shell fails the test instead of hanging it.
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** The completion script of `shell`, written to `path`. */
async function script(shell: string, path: string): Promise<void> {
  const r = await cli("completions", shell);
  assert.equal(r.code, 0, r.stderr);
  await Deno.writeTextFile(path, r.stdout);
}

/** `["daplaya lo", ["lock", "locks"]]`: the line before the cursor, and what it completes to. */
type Case = [line: string, expected: string[]];

/** What every shell must complete, in a directory holding deploy.sh. */
const CASES: Case[] = [
  ["daplaya lo", ["lock", "locks"]],
  ["daplaya lock --e", ["--endpoint", "--env"]],
  ["daplaya unlock --f", ["--force"]],
  ["daplaya check --i", ["--id"]],
  ["daplaya serve --j", []],
  ["daplaya completions ", ["bash", "fish", "zsh"]],
  ["daplaya --table lock rel", ["release"]],
  // Subcommands, and their options once one is on the line.
  ["daplaya freeze ", ["add", "list", "remove"]],
  ["daplaya --table T policy s", ["set", "show"]],
  ["daplaya freeze add --w", ["--weekly"]],
  ["daplaya freeze add --env prod --t", ["--table", "--tz"]],
  ["daplaya policy set --c", ["--clear"]],
  ["daplaya freeze remove --env x --i", ["--id"]],
  // After --, run's command and its arguments: files.
  ["daplaya run --env x -- sh dep", ["deploy.sh"]],
];

/** Types a line and a Tab into an interactive zsh: see the script. */
const ZSH_COMPLETE = new URL("../support/zsh_complete.zsh", import.meta.url).pathname;

const sorted = (words: string[]) => [...new Set(words.filter((w) => w !== ""))].sort();

Deno.test("the scripts in the real shells", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "daplaya-completions-" });
  const [zsh, fish] = [await installed("zsh"), await installed("fish")];
  await Deno.writeTextFile(`${dir}/deploy.sh`, "");
  try {
    await t.step("bash: valid (bash -n), and completes", async () => {
      const file = `${dir}/daplaya.bash`;
      await script("bash", file);
      const syntax = await output("bash", ["-n", file]);
      assert.equal(syntax.code, 0, syntax.stderr);
      const complete = async (words: string[]) => {
        const r = await output("bash", [
          "--norc",
          "--noprofile",
          "-c",
          'source "$1" || exit 9; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _daplaya; printf "%s\\n" "${COMPREPLY[@]}"',
          "bash",
          file,
          ...words,
        ], dir);
        assert.deepEqual([r.code, r.stderr], [0, ""], words.join(" "));
        return sorted(r.stdout.split("\n"));
      };
      for (const [line, expected] of CASES) {
        // COMP_WORDS as bash splits the line; a trailing space is an empty word being completed.
        const words = line.split(" ");
        assert.deepEqual(await complete(words), expected, line);
      }
      // --env=x: bash splits it into --env, =, x; an option's value offers nothing.
      assert.deepEqual(await complete(["daplaya", "lock", "--env", "=", "prod"]), []);
      assert.deepEqual(await complete(["daplaya", "lock", "--env", "=", "x", "--no"]), [
        "--no-wait",
      ]);
      assert.deepEqual(await complete(["daplaya", "lock", "--env", ""]), []);
    });

    await t.step({
      name: zsh ? "zsh: valid (zsh -n), and completes" : "zsh (skipped: zsh is not installed)",
      ignore: !zsh,
      fn: async () => {
        await Deno.mkdir(`${dir}/zfunc`);
        const file = `${dir}/zfunc/_daplaya`;
        await script("zsh", file);
        const syntax = await output("zsh", ["-n", file]);
        assert.equal(syntax.code, 0, syntax.stderr);
        for (const [line, expected] of CASES) {
          const out = `${dir}/zsh-matches`;
          await Deno.writeTextFile(out, "");
          const r = await output("zsh", ["-f", ZSH_COMPLETE, `${dir}/zfunc`, out, line], dir);
          assert.equal(r.code, 0, `${line}: ${r.stderr}`);
          const lines = (await Deno.readTextFile(out)).split("\n");
          assert.equal(lines.at(-2), "(completed)", `${line}: no completion ran: ${r.stdout}`);
          assert.deepEqual(sorted(lines.slice(0, -2)), expected, line);
        }
      },
    });

    await t.step({
      name: fish ? "fish: valid (fish -n), and completes" : "fish (skipped: fish is not installed)",
      ignore: !fish,
      fn: async () => {
        const file = `${dir}/daplaya.fish`;
        await script("fish", file);
        const syntax = await output("fish", ["--no-config", "-n", file]);
        assert.equal(syntax.code, 0, syntax.stderr);
        for (const [line, expected] of CASES) {
          const r = await output("fish", [
            "--no-config",
            "-c",
            "source $argv[1]; and complete -C $argv[2]",
            file,
            line,
          ], dir);
          assert.equal(r.code, 0, `${line}: ${r.stderr}`);
          // Each line: the word, a tab, its description.
          const words = r.stdout.split("\n").map((l) => l.split("\t")[0]);
          assert.deepEqual(sorted(words), expected, line);
        }
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("completions through the CLI as a subprocess with the binary's permissions", async () => {
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: "/nonexistent" };
  const ok = await daplaya(["completions", "bash"], env);
  assert.deepEqual([ok.code, ok.stderr], [0, ""]);
  assert.match(ok.stdout, /^# bash completion for daplaya/);
  assert.match(ok.stdout, /\ncomplete -F _daplaya daplaya\n$/);
  const bad = await daplaya(["completions", "tcsh"], env);
  assert.deepEqual(
    [bad.code, bad.stdout, bad.stderr],
    [2, "", 'daplaya: unknown shell "tcsh": completions are for bash, zsh, fish\n'],
  );
});
