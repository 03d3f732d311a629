/**
 * Fault-injecting HTTP proxy for tests: sits between an AWS SDK client and DynamoDB Local and
 * can throttle, fail, delay, hang, drop or "lose the answer to" individual operations.
 *
 * It is a raw `Deno.listen` TCP server speaking just enough HTTP/1.1 (Content-Length bodies,
 * keep-alive) because `Deno.serve` always sends the status line and headers before the body, so
 * it cannot make the client see a connection error *instead of* a response. Here we simply close
 * the socket without writing a byte, which node:http reports as "socket hang up" (ECONNRESET).
 *
 * Caveat: Deno 2.9's node:http (which the AWS SDK uses under Deno) silently re-sends a request,
 * below the SDK and regardless of maxAttempts, when a *reused* keep-alive socket closes before the
 * response head arrives (`maybeRetryRequest` in ext/node/polyfills/_http_client.js). So by default
 * the proxy closes every connection after one answer, making each request use a fresh socket.
 */

export type Fault =
  | { kind: "pass" }
  /** Forward upstream, wait for its answer, then hang up without answering (lost acknowledgement). */
  | { kind: "lostAnswer" }
  | { kind: "delay"; ms: number }
  /** Do not forward; close the connection without answering. */
  | { kind: "reset" }
  /** Do not forward; never answer (until the proxy closes). */
  | { kind: "hang" }
  /** Answer with a DynamoDB JSON 1.0 error of the given type, without forwarding. */
  | { kind: "error"; status: number; type: string; message?: string }
  /** Answer 400 TransactionCanceledException, one TransactionConflict reason per TransactItems entry. */
  | { kind: "transactionConflict" };

export const throttle: Fault = {
  kind: "error",
  status: 400,
  type: "ProvisionedThroughputExceededException",
};
export const throttling: Fault = { kind: "error", status: 400, type: "ThrottlingException" };
export const internalError: Fault = { kind: "error", status: 500, type: "InternalServerError" };
export const unavailable: Fault = { kind: "error", status: 503, type: "ServiceUnavailable" };

export interface LogEntry {
  operation: string;
  fault: Fault["kind"];
  /** Date.now() when the request was received. */
  time: number;
}

export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /**
   * Queue faults for an operation name (the part after "DynamoDB_20120810." in X-Amz-Target,
   * e.g. "TransactWriteItems"), consumed one per matching request, in order; when the queue is
   * empty requests pass. "*" matches any operation (an operation's own queue is used first).
   */
  inject(operation: string, ...faults: Fault[]): void;
  /** Random mode (soak tests): requests with no queued fault get the fault chosen by `pick`. */
  setRandom(pick: ((operation: string) => Fault) | null): void;
  /** Requests seen, in arrival order. */
  readonly log: LogEntry[];
  /** Clears queues and log (random mode stays as set). */
  clear(): void;
  /** Stops listening, ends hung/delayed requests and closes all connections. */
  close(): Promise<void>;
}

// Headers that describe one hop, or that we recompute because the body is re-framed.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
  "content-length",
  "content-encoding",
]);

const latin1 = new TextDecoder("latin1"); // one char per byte, so string indexes = byte offsets
const utf8 = new TextEncoder();

/** Minimal buffered reader for HTTP/1.1 requests on a TCP connection. */
class Reader {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  /** Reads the request head; null on a clean EOF between requests. */
  async head(): Promise<string | null> {
    let end: number;
    while ((end = latin1.decode(this.#buf).indexOf("\r\n\r\n")) < 0) {
      if (!(await this.#fill())) return null;
    }
    const head = latin1.decode(this.#buf.subarray(0, end));
    this.#buf = this.#buf.subarray(end + 4);
    return head;
  }

  async body(length: number): Promise<Uint8Array<ArrayBuffer> | null> {
    while (this.#buf.length < length) if (!(await this.#fill())) return null;
    const body = this.#buf.slice(0, length);
    this.#buf = this.#buf.subarray(length);
    return body;
  }
}

/** A response to send: upstream's, or one made up by a fault. */
interface Answer {
  status: number;
  reason: string;
  headers: Headers;
  body: Uint8Array;
}

async function send(conn: Deno.Conn, a: Answer, keepAlive: boolean): Promise<void> {
  let head = `HTTP/1.1 ${a.status} ${a.reason}\r\n`;
  for (const [k, v] of a.headers) if (!HOP_BY_HOP.has(k)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${a.body.length}\r\nconnection: ${keepAlive ? "keep-alive" : "close"}`;
  const headBytes = utf8.encode(head + "\r\n\r\n");
  const data = new Uint8Array(headBytes.length + a.body.length);
  data.set(headBytes);
  data.set(a.body, headBytes.length);
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

function errorAnswer(status: number, type: string, extra: Record<string, unknown>): Answer {
  const body = { __type: `com.amazonaws.dynamodb.v20120810#${type}`, ...extra };
  const headers = new Headers({
    "content-type": "application/x-amz-json-1.0",
    "x-amzn-errortype": type,
    "x-amzn-requestid": crypto.randomUUID(),
  });
  return { status, reason: "Injected Fault", headers, body: utf8.encode(JSON.stringify(body)) };
}

function conflictAnswer(request: Uint8Array): Answer {
  let items = 1;
  try {
    items = JSON.parse(new TextDecoder().decode(request)).TransactItems?.length ?? 1;
  } catch { /* not JSON: one reason */ }
  const reasons = Array.from({ length: items }, () => ({
    Code: "TransactionConflict",
    Message: "Transaction is ongoing for the item",
  }));
  return errorAnswer(400, "TransactionCanceledException", {
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${
      reasons.map((r) => r.Code).join(", ")
    }]`,
    CancellationReasons: reasons,
  });
}

export interface FaultProxyOptions {
  /**
   * Keep client connections open between requests (default false: answer every request with
   * `connection: close`). Off by default because Deno's node:http client transparently re-sends
   * a request whose *reused* keep-alive socket closes before any response (see module doc), which
   * would hide "lostAnswer" and "reset" from the SDK. Turn it on to reproduce that re-send.
   */
  keepAlive?: boolean;
}

// Returns a Promise (though listening is synchronous) so callers need not change if setup grows.
export function startFaultProxy(
  upstream: string,
  { keepAlive = false }: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = Deno.createHttpClient({}); // own pool, so close() leaves no upstream sockets
  const closing = new AbortController();
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const queues = new Map<string, Fault[]>();
  const log: LogEntry[] = [];
  let random: ((operation: string) => Fault) | null = null;

  const pick = (op: string): Fault =>
    queues.get(op)?.shift() ?? queues.get("*")?.shift() ?? random?.(op) ?? { kind: "pass" };

  // Resolves after `ms` (never if Infinity), or early when the proxy closes: no timer outlives it.
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const id = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      closing.signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(id);
        closing.signal.removeEventListener("abort", done);
        resolve();
      }
    });

  async function forward(
    method: string,
    target: string,
    headers: Headers,
    body: Uint8Array<ArrayBuffer>,
  ) {
    const fwd = new Headers();
    for (const [k, v] of headers) if (!HOP_BY_HOP.has(k)) fwd.set(k, v);
    // Without this fetch asks for gzip and transparently decodes it, changing the body bytes.
    if (!fwd.has("accept-encoding")) fwd.set("accept-encoding", "identity");
    try {
      const res = await fetch(new URL(target, upstream), {
        method,
        headers: fwd,
        body: method === "GET" || method === "HEAD" ? undefined : body,
        client,
        signal: closing.signal,
      });
      const answer = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, reason: res.statusText, headers: res.headers, body: answer };
    } catch (err) {
      if (closing.signal.aborted) return null;
      return errorAnswer(502, "ProxyUpstreamError", { message: String(err) });
    }
  }

  /** Handles one request; returns false when the connection must be closed. */
  async function handle(reader: Reader): Promise<boolean> {
    const head = await reader.head();
    if (head === null) return false;
    const [requestLine, ...lines] = head.split("\r\n");
    const [method, target] = requestLine.split(" ");
    const headers = new Headers();
    for (const line of lines) {
      const i = line.indexOf(":");
      if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
    // The SDK always sends Content-Length; chunked request bodies are not supported.
    const body = await reader.body(Number(headers.get("content-length") ?? 0));
    if (body === null) return false;

    const operation = headers.get("x-amz-target")?.split(".").pop() ?? "";
    const fault = pick(operation);
    log.push({ operation, fault: fault.kind, time: Date.now() });

    let answer: Answer | null;
    switch (fault.kind) {
      case "reset":
        return false;
      case "hang":
        await sleep(Infinity);
        return false;
      case "lostAnswer":
        await forward(method, target, headers, body); // upstream commits, client never hears
        return false;
      case "error":
        answer = errorAnswer(fault.status, fault.type, {
          message: fault.message ?? `Injected ${fault.type}`,
        });
        break;
      case "transactionConflict":
        answer = conflictAnswer(body);
        break;
      case "delay":
        await sleep(fault.ms);
        if (closing.signal.aborted) return false;
        answer = await forward(method, target, headers, body);
        break;
      case "pass":
        answer = await forward(method, target, headers, body);
    }
    if (answer === null || closing.signal.aborted) return false;
    const again = keepAlive && headers.get("connection")?.toLowerCase() !== "close";
    await send(reader.conn, answer, again);
    return again;
  }

  async function serveConn(conn: Deno.Conn) {
    conns.add(conn);
    const reader = new Reader(conn);
    try {
      while (await handle(reader));
    } catch {
      // Peer went away or the proxy closed the socket under us: nothing to answer.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed by close() */ }
    }
  }

  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        const task = serveConn(conn).finally(() => tasks.delete(task));
        tasks.add(task);
      }
    } catch {
      // listener closed
    }
  })();

  return Promise.resolve({
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    inject(operation, ...faults) {
      const queue = queues.get(operation) ?? [];
      queue.push(...faults);
      queues.set(operation, queue);
    },
    setRandom(fn) {
      random = fn;
    },
    log,
    clear() {
      queues.clear();
      log.length = 0;
    },
    async close() {
      if (closing.signal.aborted) return;
      closing.abort();
      listener.close();
      await acceptLoop;
      // Closing the sockets wakes handlers blocked reading idle keep-alive connections.
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed meanwhile */ }
      }
      await Promise.allSettled([...tasks]);
      client.close();
    },
  });
}
