/**
 * `deno task demo`: the main job in one command. Starts DynamoDB Local, creates the table,
 * takes a lock, shows a second user waiting, releases, and lists locks and history, each
 * step through the real CLI with the binary's permissions.
 */
import { daplayaCommand, shellLine } from "./dev/daplaya.ts";
import { localEnv, startDynamoLocal } from "./dev/dynamodb_local.ts";

const ddb = await startDynamoLocal();
const env = localEnv(ddb.endpoint);
const bold = (s: string) => Deno.env.get("NO_COLOR") ? s : `\x1b[1m${s}\x1b[0m`;

async function step(title: string, args: string[]): Promise<void> {
  console.log(`\n${bold(`# ${title}`)}\n$ daplaya ${shellLine(args)}`);
  const status = await daplayaCommand(args, env, undefined, "inherit").spawn().status;
  console.log(`(exit ${status.code})`);
}

try {
  console.log(`DynamoDB Local is listening on ${ddb.endpoint}`);
  await step("Create the table", ["init"]);
  await step("Alice takes PRODUCTION", [
    "lock",
    "--env",
    "production",
    "--user",
    "alice@example.com",
    "--meta",
    "deploy v1.2.3",
  ]);
  const bob = step("Bob waits for it (checking every second)", [
    "lock",
    "--env",
    "production",
    "--user",
    "bob@example.com",
    "--interval",
    "1s",
    "--timeout",
    "1m",
  ]);
  await new Promise((r) => setTimeout(r, 2500));
  await step("Alice releases; Bob gets it at his next attempt", [
    "release",
    "--env",
    "production",
    "--user",
    "alice@example.com",
  ]);
  await bob;
  await step("Active locks", ["locks"]);
  await step("What Bob sees: who he is, and his locks first", [
    "status",
    "--user",
    "bob@example.com",
  ]);
  await step("Bob releases", ["release", "--env", "production", "--user", "bob@example.com"]);
  await step("History of PRODUCTION, newest first", ["locks", "--env", "production", "--history"]);
} finally {
  await ddb.stop();
}
