/**
 * DynamoDB's failures as daplaya reports them: one line that says what to do, and whether a
 * write may have been applied all the same.
 */
import { FailureError, UnavailableError } from "../../core/errors.ts";

/** What a failed request was about, for its line. */
export interface FailedRequest {
  /** The DynamoDB action, e.g. `TransactWriteItems`. */
  action: string;
  table: string;
  /** The region, or where it comes from when the SDK has not resolved it yet. */
  where: string;
  endpoint: string | undefined;
}

/** Turns an SDK or network error into one line that says what to do. */
export function sdkFailure(
  e: unknown,
  { action, table: tableName, where, endpoint }: FailedRequest,
): Error {
  if (e instanceof FailureError) return e;
  const err = e as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const name = err.name ?? "";
  const message = (err.message ?? String(e)).split("\n")[0];
  const table = `table ${tableName}`;
  const failure = (text: string) => new FailureError(text, { cause: e });
  const unavailable = (text: string) => new UnavailableError(text, { cause: e });
  if (name === "ResourceNotFoundException") {
    return failure(`${table} not found ${at(endpoint, where)}: run 'daplaya init'`);
  }
  if (name === "CredentialsProviderError" || /Could not load credentials/i.test(message)) {
    // The chain in credentials.ts reports "none found" itself; this is a source that failed.
    return failure(
      `cannot load AWS credentials: ${message}: check the profile and the source it names`,
    );
  }
  if (name === "AccessDeniedException") {
    return failure(
      `access denied: dynamodb:${action} on ${table} in ${where} (${message}): grant it in the IAM policy`,
    );
  }
  if (
    ["UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"]
      .includes(name)
  ) {
    return failure(
      `AWS rejected the credentials (${name}): check AWS_PROFILE or the access keys`,
    );
  }
  if (
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
      .includes(name)
  ) {
    return unavailable(
      `DynamoDB is throttling requests to ${table} (${name}), still after retries: try again later`,
    );
  }
  if (name === "TransactionInProgressException") {
    // The first attempt with this token is still being applied: its outcome is unknown.
    return unavailable(
      `DynamoDB was still applying an earlier attempt of this ${action} (${name}): try again later`,
    );
  }
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) {
    return unavailable(
      `DynamoDB answered ${status} (${name}) on ${action}, still after retries: try again later`,
    );
  }
  const code = err.code ?? (err.cause as { code?: string } | undefined)?.code ?? name;
  if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EPIPE|ETIMEDOUT|TimeoutError|RequestTimeout|socket hang up|getaddrinfo|NetworkingError/i
      .test(`${code} ${name} ${message}`)
  ) {
    return unavailable(
      `cannot reach ${endpoint ?? `DynamoDB in ${where}`} (${
        code || message
      }): check --endpoint, --region and the network`,
    );
  }
  if (/region is missing/i.test(message)) {
    return failure("no AWS region: pass --region or set DAPLAYA_AWS_REGION");
  }
  return failure(`DynamoDB ${action} failed: ${name}: ${message}`);
}

/** Where a table is looked for: the endpoint when one is set, else the region. */
export function at(endpoint: string | undefined, where: string): string {
  return endpoint ? `at ${endpoint} (region ${where})` : `in ${where}`;
}

/**
 * Whether a failed attempt may have been applied: it reached DynamoDB and no answer came back,
 * or the answer does not say (5xx, a transaction with this token still in progress). A refused
 * connection or an unknown host never reached it; a 4xx answer says it was not applied.
 */
export function mayHaveApplied(e: unknown): boolean {
  const err = e as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || err.name === "TransactionInProgressException";
  const code = err.code ?? (err.cause as { code?: string } | undefined)?.code ?? "";
  return !/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|did not establish a connection/i.test(
    `${code} ${err.name} ${err.message}`,
  );
}

/** The SDK logs nothing but warnings here, each as one line. */
export function sdkLogger(onWarning: (line: string) => void) {
  const seen = new Set<string>();
  return {
    debug() {},
    info() {},
    error() {},
    warn(...args: unknown[]) {
      const text = args.map(String).join(" ");
      const line = /Multiple credential sources/.test(text)
        ? "AWS_PROFILE and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are both set; using the profile"
        : text.split("\n").map((l) => l.trim()).find(Boolean) ?? text;
      if (!seen.has(line)) onWarning(line);
      seen.add(line);
    },
  };
}
