/**
 * `deno task ddb [--port 8000]`: Amazon's DynamoDB Local, in memory, for trying the CLI by
 * hand. Prints the settings to paste into another terminal and runs until Ctrl-C; its tables
 * are gone when it stops. `--port 0` takes any free port.
 */
import { localEnv, startDynamoLocal } from "./dev/dynamodb_local.ts";

const DEFAULT_PORT = 8000;

function parsePort(args: string[]): number {
  if (args.length === 0) return DEFAULT_PORT;
  const [flag, value] = args;
  const port = Number(value);
  if (flag !== "--port" || args.length !== 2 || !/^\d{1,5}$/.test(value) || port > 65535) {
    throw new Error("usage: deno task ddb [--port N] (default 8000; 0 for any free port)");
  }
  return port;
}

async function main(): Promise<number> {
  let port: number;
  try {
    port = parsePort(Deno.args);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  let ddb;
  try {
    ddb = await startDynamoLocal(port === 0 ? {} : { port });
  } catch (e) {
    console.error(`${(e as Error).message}${port ? `: is port ${port} in use? try --port 0` : ""}`);
    return 1;
  }
  const env = localEnv(ddb.endpoint);
  const settings = [
    "DAPLAYA_DYNAMODB_ENDPOINT",
    "DAPLAYA_AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
  ].map((name) => `${name}=${env[name]}`).join(" ");
  console.log(
    `DynamoDB Local is listening on ${ddb.endpoint} (in memory: its tables are gone when it stops).

In another terminal:
  export ${settings}
  npx -y deno@2.9.6 task daplaya init
  npx -y deno@2.9.6 task daplaya lock --env staging --user you@example.com
  npx -y deno@2.9.6 task daplaya locks

Ctrl-C stops it.`,
  );
  const stopped = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const stop = () => stopped.resolve();
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  await stopped.promise;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  await ddb.stop();
  console.log("DynamoDB Local stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
