/**
 * `/daplaya` commands run: the parsed text or button on the same `Locker` as the CLI, answered
 * with a message from messages.ts. No I/O of its own: the handler gives the locker, who is
 * asking and a deadline for engine calls.
 */
import {
  InterruptedError,
  LeftLineError,
  NewEnvError,
  NotAcquiredError,
  NotHeldError,
  UsageError,
} from "../core/errors.ts";
import type { Locker, Observations } from "../core/locker.ts";
import { FrozenError, type Policies } from "../core/policy.ts";
import { readLocks } from "../core/report.ts";
import { IdentityUnconfirmed, type Names, type SlackIdentity } from "./identity.ts";
import {
  errorReply,
  heldByMessage,
  helpMessage,
  lateNote,
  leasesMessage,
  lockedMessage,
  newEnvMessage,
  noIdentityMessage,
  notHeldMessage,
  oldButtonMessage,
  overMessage,
  refusal,
  releasedMessage,
  unknownStateMessage,
  waitingLineMessage,
} from "./messages.ts";
import {
  freezeItems,
  freezesMessage,
  frozenMessage,
  type FrozenOffer,
  ruleMessage,
} from "./freeze_messages.ts";
import type { SlackMessage } from "./mrkdwn.ts";
import {
  type ButtonValue,
  parseButtonValue,
  parseJoinValue,
  parseSlashText,
  type SlashCommand,
} from "./parse.ts";
import {
  alreadyInLineMessage,
  joinClosedMessage,
  joinedMessage,
  joinPendingMessage,
  leftLineMessage,
  notInLineMessage,
} from "./line_messages.ts";
import { isSlackPlace, type JoinEvent, type SlackWaiters, userPlace } from "./waiters.ts";

/** An answer plus what happened, for the log line (never secrets). */
export interface Outcome {
  message: SlackMessage;
  result: string;
  env?: string;
  error?: string;
}

/** The engine call did not settle in time: its effect is unknown. */
export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}

export interface RunContext {
  locker: Locker;
  /** Who is asking (users.info, cached); IdentityUnconfirmed when the email is not confirmed. */
  who(): Promise<SlackIdentity>;
  /**
   * How to show these lock users (Slack mentions where known), within what is left of the reply
   * deadline; never rejects (an unknown user is shown as it is).
   */
  names(users: string[]): Promise<Names>;
  /** Runs an engine call under the reply deadline; rejects with DeadlineExceeded. */
  within<T>(call: Promise<T>): Promise<T>;
  /**
   * Takes the real outcome of a lock or release that missed the deadline (its answer said
   * "state unknown"), to post it once it settles. The promise never rejects.
   */
  late(outcome: Promise<Outcome>): void;
  /**
   * The record versions this `serve` has seen, kept for its lifetime: a `lock` takes over a
   * lease that earlier requests saw unchanged for a whole lease (the record-version rule).
   */
  seen?: Observations;
  /** The slash command as configured in Slack, e.g. `/daplaya`, for help texts. */
  command: string;
  /** The Slack users this `serve` keeps places in line for (**Join the line**). */
  waiters?: SlackWaiters;
  /** The envs' policies on the same table, for `freezes` (read under the reply deadline). */
  policies?: Policies;
  /** Now, by this host's clock: the clock freeze windows are judged by. */
  now(): number;
}

/** Parses and runs a slash command; every outcome is an answer, never a thrown error. */
export async function runSlash(text: string, ctx: RunContext): Promise<Outcome> {
  let cmd: SlashCommand;
  try {
    cmd = parseSlashText(text);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { message: errorReply(e.message, ctx.command), result: "invalid" };
  }
  switch (cmd.name) {
    case "help":
      return { message: helpMessage(ctx.command, cmd.problem), result: "help" };
    case "lock":
      return await lock(cmd, ctx);
    case "release":
      return await release(cmd.env, ctx);
    case "cancel":
      return await cancel(cmd.env, ctx);
    case "leases":
      return await leases(cmd.env, ctx);
    case "freezes":
      return await freezes(cmd.env, ctx);
  }
}

/**
 * The Release button: it ends only the lock its message was about (the id in its value), and
 * only for that lock's holder; anyone else, or a click after that lock is over, gets an
 * ephemeral answer and nothing changes. Only a release replaces the message that carried it.
 */
export async function runReleaseButton(
  value: string | undefined,
  onlyUberlock: boolean,
  ctx: RunContext,
): Promise<Outcome> {
  const target = parseButtonValue(value);
  let outcome: Outcome;
  if (target === "invalid") {
    const text = `not a Release button daplaya made: use \`${ctx.command} release ENV\``;
    outcome = { message: errorReply(text, ctx.command), result: "invalid" };
  } else if ("id" in target) {
    outcome = await releaseButton(target, onlyUberlock, ctx);
  } else {
    const { env } = target;
    outcome = { message: oldButtonMessage(env, ctx.command), result: "old-button", env };
  }
  return buttonAnswer(outcome);
}

/** Only a release replaces the message that carried the button. */
function buttonAnswer(outcome: Outcome): Outcome {
  outcome.message.replace_original = outcome.result === "released";
  return outcome;
}

async function releaseButton(
  target: ButtonValue,
  onlyUberlock: boolean,
  ctx: RunContext,
): Promise<Outcome> {
  const { env, id } = target;
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  const settle = ctx.locker.release({ env, user: who.user, onlyUberlock, force: false, id }).then(
    (released): Outcome => ({
      message: releasedMessage(env, released, who),
      result: "released",
      env,
    }),
    async (e): Promise<Outcome> => {
      if (!(e instanceof NotHeldError)) return unknownState("release", env, e, ctx.command);
      const live = e.holders.find((h) => h.slot.id === id);
      if (live) {
        const names = await ctx.names([live.slot.user]);
        return { message: refusal(env, live, who, names), result: "refused", env };
      }
      // How it ended, if its record says (a failed read only makes the answer vaguer).
      const record = await ctx.locker.record(id).catch(() => null);
      const names = await ctx.names([
        ...e.holders.map((h) => h.slot.user),
        ...(record?.releasedBy ? [record.releasedBy] : []),
      ]);
      return {
        message: overMessage(target, onlyUberlock, e.holders, who, record, names),
        result: "over",
        env,
      };
    },
  );
  return await inTime("release", env, settle, ctx, buttonAnswer);
}

async function lock(
  cmd: Extract<SlashCommand, { name: "lock" }>,
  ctx: RunContext,
): Promise<Outcome> {
  const { env, kind } = cmd;
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  // A refused regular lock offers a place in line, when this serve keeps places.
  const joinOffer = kind === "regular" && ctx.waiters
    ? { env, meta: cmd.meta, metaExplicit: cmd.metaExplicit, command: ctx.command }
    : undefined;
  const settle = ctx.locker.acquire({
    env,
    user: who.user,
    kind,
    meta: cmd.meta,
    metaExplicit: cmd.metaExplicit,
    // Slack must be answered within 3 s: one attempt, never a wait.
    timeoutMs: 0,
    intervalMs: 5000,
    newEnv: cmd.newEnv,
    ...(ctx.seen ? { seen: ctx.seen } : {}),
  }).then(
    (held): Outcome => ({
      message: lockedMessage(held, who),
      result: held.refreshed ? "refreshed" : "locked",
      env,
    }),
    async (e): Promise<Outcome> => {
      if (e instanceof NewEnvError) {
        return { message: newEnvMessage(cmd, e.suggestion, ctx.command), result: "new-env", env };
      }
      // Before NotAcquiredError, which it is: a freeze window, not (only) a holder, refused it.
      if (e instanceof FrozenError) {
        const names = await ctx.names(e.holder ? [e.holder.slot.user] : []);
        // A wait that would end before the window does is not offered.
        const reach = ctx.waiters?.reach;
        const offer: FrozenOffer = !joinOffer || !reach
          ? { none: true }
          : e.frozen[0].end - ctx.now() > reach.maxWaitMs
          ? { tooLong: reach.maxWaitMs }
          : { join: joinOffer };
        return {
          message: frozenMessage(env, e.frozen[0], e, who, names, offer, ctx.command),
          result: "frozen",
          env,
        };
      }
      if (e instanceof NotAcquiredError) {
        return {
          message: e.holder
            ? heldByMessage(env, e.holder, who, await ctx.names([e.holder.slot.user]), joinOffer)
            : waitingLineMessage(
              env,
              e.line,
              who,
              await ctx.names(e.line.map((p) => p.user)),
              joinOffer,
            ),
          result: "held",
          env,
        };
      }
      // The env's rules (a required meta): the core's line, and how to give a meta in Slack.
      if (e instanceof UsageError) {
        const verb = kind === "uberlock" ? "uberlock" : "lock";
        return {
          message: ruleMessage(e.message, { verb, env }, who, ctx.command),
          result: "rule",
          env,
        };
      }
      return unknownState("lock", env, e, ctx.command);
    },
  );
  return await inTime("lock", env, settle, ctx);
}

async function release(env: string, ctx: RunContext): Promise<Outcome> {
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  const settle = ctx.locker.release({ env, user: who.user, onlyUberlock: false, force: false })
    .then(
      (released): Outcome => ({
        message: releasedMessage(env, released, who),
        result: "released",
        env,
      }),
      (e): Outcome =>
        e instanceof NotHeldError
          ? { message: notHeldMessage(e.message, who), result: "not-held", env }
          : unknownState("release", env, e, ctx.command),
    );
  return await inTime("release", env, settle, ctx);
}

/**
 * The outcome of a lock or release if it settles in time. Otherwise the answer says the state
 * is unknown, and the real outcome goes to `ctx.late` once the call settles (the engine call is
 * never abandoned halfway: it runs to its end, within the store's own timeouts).
 */
async function inTime(
  action: "lock" | "release" | "cancel",
  env: string,
  settle: Promise<Outcome>,
  ctx: RunContext,
  finish: (outcome: Outcome) => Outcome = (outcome) => outcome,
): Promise<Outcome> {
  try {
    return finish(await ctx.within(settle));
  } catch (e) {
    if (!(e instanceof DeadlineExceeded)) throw e;
    const what = `${ctx.command} ${action} ${env}`;
    ctx.late(settle.then((outcome) => finish(lateOutcome(outcome, what))));
    return finish(unknownState(action, env, e, ctx.command));
  }
}

/** Says, under the answer's first line, which command this late answer is about. */
function lateOutcome(outcome: Outcome, what: string): Outcome {
  outcome.message.blocks.splice(1, 0, lateNote(what));
  return outcome;
}

async function leases(env: string | undefined, ctx: RunContext): Promise<Outcome> {
  try {
    const { locks, waiting } = await ctx.within(readLocks(ctx.locker, env));
    const names = await ctx.names([...locks, ...waiting].map((r) => r.user));
    return {
      message: leasesMessage(env, locks, names, waiting),
      result: "listed",
      ...(env ? { env } : {}),
    };
  } catch (e) {
    return unknownState("leases", env, e, ctx.command);
  }
}

/**
 * `/daplaya freezes [ENV]`: the windows in force and coming up, of every env with a policy or
 * of one env; strongly consistent reads of the envs' guard items, like `leases`.
 */
async function freezes(env: string | undefined, ctx: RunContext): Promise<Outcome> {
  const where = env ? { env } : {};
  const policies = ctx.policies;
  if (!policies) {
    return {
      message: errorReply("this daplaya serve cannot read freeze windows", ctx.command),
      result: "unavailable",
      ...where,
    };
  }
  try {
    const read = env === undefined
      ? policies.all()
      : policies.of(env).then((policy) => [{ env, policy }]);
    const items = freezeItems(await ctx.within(read), policies.now());
    return { message: freezesMessage(env, items), result: "listed", ...where };
  } catch (e) {
    return unknownState("freezes", env, e, ctx.command);
  }
}

/** Who is asking; when the email cannot be confirmed, the answer that says so instead. */
async function identify(ctx: RunContext, env: string): Promise<SlackIdentity | Outcome> {
  try {
    return await ctx.who();
  } catch (e) {
    return noIdentity(e, env);
  }
}

/** The email could not be confirmed: nothing is done, and the answer says why. */
function noIdentity(e: unknown, env: string): Outcome {
  if (!(e instanceof IdentityUnconfirmed)) throw e;
  return { message: noIdentityMessage(e), result: "no-identity", env, error: e.message };
}

function unknownState(
  action: "lock" | "release" | "leases" | "cancel" | "freezes",
  env: string | undefined,
  e: unknown,
  command: string,
): Outcome {
  const timeout = e instanceof DeadlineExceeded;
  const error = timeout ? "deadline" : (e as Error)?.message ?? String(e);
  return {
    message: unknownStateMessage(action, env, timeout, command),
    result: "unknown",
    ...(env ? { env } : {}),
    error: error.split("\n")[0],
  };
}

/** Where a button's answer goes, besides who clicked it. */
export interface Click {
  userId: string;
  responseUrl: string;
}

/**
 * **Join the line**: `serve` takes a place in the env's line for the clicker and keeps it; the
 * answer says which place (or, when the env was free meanwhile, that the lock is theirs).
 */
export async function runJoinButton(
  value: string | undefined,
  ctx: RunContext,
  click: Click,
): Promise<Outcome> {
  const outcome = await join(value, ctx, click);
  // The place replaces the message with the button, so that it is not clicked twice.
  outcome.message.replace_original = outcome.result === "waiting" || outcome.result === "pending";
  return outcome;
}

async function join(
  value: string | undefined,
  ctx: RunContext,
  click: Click,
): Promise<Outcome> {
  const target = parseJoinValue(value);
  if (target === "invalid") {
    const text = `not a Join button daplaya made: use \`${ctx.command} lock ENV\``;
    return { message: errorReply(text, ctx.command), result: "invalid" };
  }
  const { env } = target;
  // A click does not say which slash command its message answered: the button does.
  if (target.command !== undefined) ctx = { ...ctx, command: target.command };
  const waiters = ctx.waiters;
  if (!waiters || waiters.closed) {
    return { message: joinClosedMessage(env), result: "closed", env };
  }
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  let line;
  try {
    line = await ctx.within(ctx.locker.line(env));
  } catch (e) {
    return unknownState("leases", env, e, ctx.command);
  }
  // Once per user and env: a place kept here, by another replica, or by the CLI.
  const local = waiters.local(env, who.user);
  const place = userPlace(line, who.user);
  if (local || place) {
    const position = place?.position ?? local?.position;
    const fromCli = !local && place !== null && !place.slack;
    return {
      message: alreadyInLineMessage(env, position, who, ctx.command, fromCli),
      result: "already",
      env,
    };
  }
  if (waiters.closed) return { message: joinClosedMessage(env), result: "closed", env };
  // No await between the checks above and this: two clicks at once start one wait.
  const joining = waiters.start({
    env,
    meta: target.meta,
    metaExplicit: target.metaExplicit,
    who,
    userId: click.userId,
    responseUrl: click.responseUrl,
    command: ctx.command,
  });
  let event: JoinEvent;
  try {
    event = await ctx.within(joining.first);
  } catch (e) {
    if (!(e instanceof DeadlineExceeded)) throw e;
    if (joining.giveUp()) {
      return {
        message: joinPendingMessage(env, who, ctx.command, waiters.reach),
        result: "pending",
        env,
      };
    }
    event = await joining.first;
  }
  if (event.kind === "waiting") {
    const message = joinedMessage(
      env,
      event.position,
      who,
      ctx.command,
      waiters.reach,
      event.frozen,
    );
    return { message, result: "waiting", env };
  }
  if (event.kind === "granted") {
    // Free by the time of the click: the lock is theirs, announced like any Slack lock.
    const held = event.held;
    return {
      message: lockedMessage(held, who),
      result: held.refreshed ? "refreshed" : "locked",
      env,
    };
  }
  const e = event.error;
  if (e instanceof InterruptedError || e instanceof LeftLineError) {
    return { message: leftLineMessage(env, who), result: "left", env };
  }
  // The env's rules changed since the refusal that offered the button (a required meta).
  if (e instanceof UsageError) {
    return {
      message: ruleMessage(e.message, { verb: "lock", env }, who, ctx.command),
      result: "rule",
      env,
    };
  }
  return unknownState("lock", env, e, ctx.command);
}

/**
 * `/daplaya cancel ENV`: the user's places that `serve` keeps in ENV's line leave it, on this
 * replica (its waiter stops) and on any other (the place is removed from the table, and the
 * replica keeping it stops at its next renewal). A CLI waiter's place is left alone.
 */
async function cancel(env: string, ctx: RunContext): Promise<Outcome> {
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  const settle = (async (): Promise<Outcome> => {
    const here = await ctx.waiters?.stop(env, who.user) ?? false;
    const removed = await ctx.locker.cancelWait(env, who.user, isSlackPlace);
    if (here || removed.length > 0) {
      return { message: leftLineMessage(env, who), result: "left", env };
    }
    const place = userPlace(await ctx.locker.line(env), who.user);
    return {
      message: notInLineMessage(env, who, ctx.command, place?.position),
      result: "not-in-line",
      env,
    };
  })().catch((e) => unknownState("cancel", env, e, ctx.command));
  return await inTime("cancel", env, settle, ctx);
}
