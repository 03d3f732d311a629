/**
 * HTTP Basic authentication for the status page (`DAPLAYA_STATUS_AUTH=user:password`). The
 * credentials are compared as SHA-256 digests, in time that does not depend on where they
 * differ nor on their length.
 */
import { UsageError } from "../core/errors.ts";

/** How often the status page reloads itself (DAPLAYA_STATUS_REFRESH), in seconds. */
export const DEFAULT_REFRESH_SECONDS = 10;

/** Who may read the status page. */
export interface StatusAuth {
  user: string;
  password: string;
}

// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/**
 * `user:password` (the user without a colon, as HTTP Basic requires; the password may have
 * them), both non-empty and without control characters. The error never shows the password.
 */
export function parseStatusAuth(raw: string, name = "DAPLAYA_STATUS_AUTH"): StatusAuth {
  const colon = raw.indexOf(":");
  const user = colon < 0 ? raw : raw.slice(0, colon);
  const password = colon < 0 ? "" : raw.slice(colon + 1);
  if (colon < 0 || user === "" || password === "" || CONTROL_RE.test(raw)) {
    throw new UsageError(
      `invalid ${name}: use user:password (a user without ':', a non-empty password, no control characters)`,
    );
  }
  return { user, password };
}

const encoder = new TextEncoder();

async function digest(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** Checks `Authorization: Basic …` headers against the configured credentials. */
export class BasicAuth {
  readonly #expected: Promise<Uint8Array>;

  constructor(auth: StatusAuth) {
    this.#expected = digest(encoder.encode(`${auth.user}:${auth.password}`));
  }

  /** True when the header carries exactly the configured user and password. */
  async allows(header: string | null): Promise<boolean> {
    const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header ?? "");
    let given: Uint8Array<ArrayBuffer>;
    try {
      given = m ? Uint8Array.fromBase64(m[1]) : new Uint8Array();
    } catch {
      given = new Uint8Array();
    }
    const [a, b] = await Promise.all([this.#expected, digest(given)]);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return m !== null && diff === 0;
  }
}
