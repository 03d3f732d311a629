/**
 * Where AWS credentials come from: the SDK's own default chain, with the probe of EC2 instance
 * metadata bounded, one line that lists every source tried when none has any, and a profile
 * that does not exist said as such.
 *
 * It reads the same variables the SDK reads (`AWS_*`), only to describe them.
 */
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { loadSharedConfigFiles } from "@smithy/core/config";
import { FailureError } from "../../core/errors.ts";

type Chain = ReturnType<typeof defaultProvider>;
/** Credentials as the SDK resolves them; `$source` marks where they came from. */
export type Identity = Awaited<ReturnType<Chain>> & { $source?: Record<string, string> };

/**
 * Each request to EC2 instance metadata gives up after this long, and is not retried. Off EC2
 * the address often swallows packets; the SDK then asks twice (a token, then without one), so a
 * host with no credentials at all hears so within about a second.
 */
export const METADATA_TIMEOUT_MS = 500;

const env = (name: string): string | undefined => Deno.env.get(name) || undefined;

/** The shared files as the SDK finds them, for messages: `~/.aws/config` unless overridden. */
export function sharedFiles(): { config: string; credentials: string } {
  return {
    config: env("AWS_CONFIG_FILE") ?? "~/.aws/config",
    credentials: env("AWS_SHARED_CREDENTIALS_FILE") ?? "~/.aws/credentials",
  };
}

function containerConfigured(): boolean {
  return env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") !== undefined ||
    env("AWS_CONTAINER_CREDENTIALS_FULL_URI") !== undefined;
}

function metadataDisabled(): boolean {
  const v = env("AWS_EC2_METADATA_DISABLED");
  return v !== undefined && v !== "false";
}

/**
 * The SDK's default chain as the DynamoDB client would build it from `init` (its own config:
 * profile, logger, the parent client's region), with the instance metadata probe bounded. A
 * container endpoint, when one is configured, keeps the SDK's own timeout and retries.
 */
export function credentialChain(
  init: Record<string, unknown>,
  profile: string | undefined,
): Chain {
  const bounded = containerConfigured() ? {} : { timeout: METADATA_TIMEOUT_MS, maxRetries: 0 };
  const chain = defaultProvider({ ...init, ...bounded });
  return async (options?: Parameters<Chain>[0]) => {
    try {
      return await chain(options);
    } catch (e) {
      if (/Could not load credentials from any providers/.test((e as Error)?.message ?? "")) {
        throw noCredentials(profile, e);
      }
      throw e;
    }
  };
}

/** One line listing every source the default chain tried, in its order, and what to do. */
export function noCredentials(profile: string | undefined, cause?: unknown): FailureError {
  const files = sharedFiles();
  const tried = [
    profile === undefined ? "env AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" : undefined,
    `profile ${
      profile ?? "default"
    } (keys, SSO, credential_process) in ${files.config} and ${files.credentials}`,
    "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
    containerConfigured()
      ? "container (AWS_CONTAINER_CREDENTIALS_*)"
      : metadataDisabled()
      ? "EC2 instance metadata (off: AWS_EC2_METADATA_DISABLED)"
      : "EC2 instance metadata",
  ].filter((x) => x !== undefined);
  const fix = profile === undefined
    ? "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile / AWS_PROFILE, or run with an instance or container role"
    : `give profile ${profile} credentials (aws configure --profile ${profile}, or aws sso login --profile ${profile})`;
  return new FailureError(`no AWS credentials found (tried: ${tried.join(", ")}): ${fix}`, {
    cause,
  });
}

/**
 * A failure when `profile` is in neither shared file (read by the SDK's own loader, which
 * honours AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE); undefined when it exists.
 */
export async function missingProfile(profile: string): Promise<FailureError | undefined> {
  const { configFile, credentialsFile } = await loadSharedConfigFiles();
  if (Object.hasOwn(configFile, profile) || Object.hasOwn(credentialsFile, profile)) {
    return undefined;
  }
  const files = sharedFiles();
  return new FailureError(
    `AWS profile ${profile} does not exist: it is in neither ${files.config} nor ${files.credentials}: check --profile and AWS_PROFILE, or create it with 'aws configure --profile ${profile}'`,
  );
}

/** Where resolved credentials came from, for people: the SDK marks each source's credentials. */
export function credentialSource(
  identity: Identity,
  profile: string | undefined,
): string {
  const marks = Object.keys(identity.$source ?? {});
  const has = (...names: string[]) => names.some((n) => marks.includes(n));
  const files = sharedFiles();
  const named = `profile ${profile ?? "default"}`;
  if (has("CREDENTIALS_ENV_VARS")) return "env AWS_ACCESS_KEY_ID";
  if (has("CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN", "CREDENTIALS_STS_ASSUME_ROLE_WEB_ID")) {
    return marks.includes("CREDENTIALS_PROFILE_STS_WEB_ID_TOKEN")
      ? `${named} (web identity)`
      : "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)";
  }
  if (has("CREDENTIALS_PROFILE_SSO", "CREDENTIALS_PROFILE_SSO_LEGACY", "CREDENTIALS_SSO")) {
    return `${named} (SSO)`;
  }
  if (has("CREDENTIALS_PROFILE_PROCESS", "CREDENTIALS_PROCESS")) {
    return `${named} (credential_process)`;
  }
  if (has("CREDENTIALS_PROFILE_LOGIN", "CREDENTIALS_LOGIN")) return `${named} (aws login)`;
  if (has("CREDENTIALS_PROFILE_SOURCE_PROFILE", "CREDENTIALS_PROFILE_NAMED_PROVIDER")) {
    return `${named} (role assumed in ${files.config})`;
  }
  if (has("CREDENTIALS_PROFILE")) {
    return `${named} (keys in ${files.credentials} or ${files.config})`;
  }
  if (has("CREDENTIALS_HTTP") || containerConfigured()) {
    return "container (AWS_CONTAINER_CREDENTIALS_*)";
  }
  return "EC2 instance metadata";
}
