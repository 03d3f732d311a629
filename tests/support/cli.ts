/**
 * The CLI in-process for tests: `runCli` with a fake context on one in-memory store and a
 * manual clock, each run with its own stdout, stderr and environment.
 */
import assert from "node:assert/strict";
import type { Child, CliContext, SpawnOptions } from "../../src/cli/context.ts";
import type { StoreConfig } from "../../src/core/store.ts";
import { runCli } from "../../src/cli/program.ts";
import { ManualClock } from "./manual_clock.ts";
import { MemoryStore } from "../../src/store/memory.ts";

export const INFO = { version: "9.8.7", target: "test-target", deno: "0.0.0" };

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  /** How many times this run called openStore. */
  opened: number;
  /** How many requests this run sent to the store. */
  requests: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** What `git log -1 --format=%ce HEAD` prints. */
  committer?: string;
  /** What `git config user.email` prints. */
  gitConfigEmail?: string;
  /** Starts `run`'s command; without it, reaching `spawn` fails the test. */
  spawn?: (program: string, args: string[], options: SpawnOptions) => Child;
}

/** One shared store and clock; each run gets its own stdout, stderr and environment. */
export function harness() {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const configs: StoreConfig[] = [];
  let opened = 0;
  let gitCalls = 0;
  async function run(args: string[], o: RunOptions = {}): Promise<Outcome> {
    let stdout = "";
    let stderr = "";
    const before = { opened, requests: store.requests };
    const ctx: CliContext = {
      env: (name) => o.env?.[name] || undefined,
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      openStore: (config) => {
        opened++;
        configs.push(config);
        return Promise.resolve(store);
      },
      clock,
      sleep: clock.sleep,
      git: (args) => {
        gitCalls++;
        return Promise.resolve(args[0] === "log" ? o.committer : o.gitConfigEmail);
      },
      hostname: () => "box",
      cwd: "/nonexistent",
      // Commands that start processes or servers are tested in run_keeper_test.ts and
      // serve_test.ts; here reaching one is a failure.
      programExists: () => Promise.resolve(true),
      spawn: o.spawn ?? (() => {
        throw new Error("this test starts no process");
      }),
      onStopSignal: () => () => {},
      serve: () => {
        throw new Error("this test starts no server");
      },
    };
    const code = await runCli(args, ctx, INFO);
    return {
      code,
      stdout,
      stderr,
      opened: opened - before.opened,
      requests: store.requests - before.requests,
    };
  }
  return {
    store,
    clock,
    configs,
    run,
    get opened() {
      return opened;
    },
    get gitCalls() {
      return gitCalls;
    },
  };
}

export function ok(r: Outcome): Outcome {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  return r;
}

/** Exactly one JSON document on stdout. */
export function doc(r: Outcome) {
  ok(r);
  assert.ok(r.stdout.endsWith("\n"));
  return JSON.parse(r.stdout);
}
