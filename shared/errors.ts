/**
 * The one error union of argo-sts and its one mapping to the wire.
 *
 * Every refusal in the core is a `StsError` carrying a stable `code`. Tests assert codes, not
 * messages. `toWireError` is the only place that turns a code into an HTTP status, an RFC 6749
 * §5.2 `error` and the `check` that /diagnose uses for the same failure.
 */

/** The ids of the checks, in verification order, shared by /token errors and /diagnose. */
export const CHECK_IDS = [
  'format',
  'issuer',
  'signature',
  'audience',
  'expiry',
  'not_before',
  'issued_at',
  'policy',
  'target',
  'namespace',
  'scope',
] as const;
export type CheckId = (typeof CHECK_IDS)[number];

/**
 * Checks that are not about the token: a malformed request, throttling, an outage, a broker whose
 * configuration does not load (Workers, where a bad config cannot stop a start).
 */
export type WireCheck = CheckId | 'request' | 'rate_limit' | 'unavailable' | 'config' | 'internal';

export type OAuthError =
  | 'invalid_request'
  | 'unsupported_grant_type'
  | 'invalid_target'
  | 'invalid_scope'
  | 'temporarily_unavailable'
  | 'server_error';

interface CodeSpec {
  readonly error: OAuthError;
  readonly status: number;
  readonly check: WireCheck;
}

/** Every code argo-sts can refuse with. Closed: adding one means adding its wire mapping here. */
const CODES = {
  ERR_REQUEST_MALFORMED: { error: 'invalid_request', status: 400, check: 'request' },
  ERR_REQUEST_TOO_LARGE: { error: 'invalid_request', status: 400, check: 'request' },
  /** The client closed the connection before its body was complete: nobody reads the answer. */
  ERR_CLIENT_ABORTED: { error: 'invalid_request', status: 400, check: 'request' },
  ERR_GRANT_TYPE_UNSUPPORTED: { error: 'unsupported_grant_type', status: 400, check: 'request' },
  ERR_TOKEN_FORMAT: { error: 'invalid_request', status: 400, check: 'format' },
  ERR_TOKEN_CLAIM_MISSING: { error: 'invalid_request', status: 400, check: 'format' },
  ERR_ISSUER_UNTRUSTED: { error: 'invalid_request', status: 400, check: 'issuer' },
  ERR_SIGNATURE_INVALID: { error: 'invalid_request', status: 400, check: 'signature' },
  ERR_ALGORITHM_NOT_ALLOWED: { error: 'invalid_request', status: 400, check: 'signature' },
  ERR_KEY_NOT_FOUND: { error: 'invalid_request', status: 400, check: 'signature' },
  ERR_KEYS_UNAVAILABLE: { error: 'temporarily_unavailable', status: 503, check: 'signature' },
  ERR_AUDIENCE_MISMATCH: { error: 'invalid_request', status: 400, check: 'audience' },
  ERR_TOKEN_EXPIRED: { error: 'invalid_request', status: 400, check: 'expiry' },
  ERR_TOKEN_NOT_YET_VALID: { error: 'invalid_request', status: 400, check: 'not_before' },
  ERR_TOKEN_ISSUED_IN_FUTURE: { error: 'invalid_request', status: 400, check: 'issued_at' },
  ERR_TOKEN_TOO_OLD: { error: 'invalid_request', status: 400, check: 'issued_at' },
  ERR_TOKEN_LIFETIME_TOO_LONG: { error: 'invalid_request', status: 400, check: 'expiry' },
  ERR_TOKEN_REPLAYED: { error: 'invalid_request', status: 400, check: 'format' },
  ERR_TOKEN_TYPE_UNSUITABLE: { error: 'invalid_request', status: 400, check: 'format' },
  ERR_PRESET_CLAIM_INVALID: { error: 'invalid_request', status: 400, check: 'format' },
  ERR_TENANT_MISMATCH: { error: 'invalid_request', status: 400, check: 'issuer' },
  ERR_AUDIENCE_NO_MAPPER: { error: 'invalid_request', status: 400, check: 'audience' },
  ERR_CLAIM_OVERAGE: { error: 'invalid_request', status: 400, check: 'policy' },
  ERR_POLICY_DENIED: { error: 'invalid_request', status: 400, check: 'policy' },
  ERR_POLICY_NO_MATCH: { error: 'invalid_request', status: 400, check: 'policy' },
  ERR_DELEGATION_DENIED: { error: 'invalid_request', status: 400, check: 'policy' },
  ERR_TARGET_UNKNOWN: { error: 'invalid_target', status: 400, check: 'target' },
  ERR_TARGET_NOT_ALLOWED: { error: 'invalid_target', status: 400, check: 'target' },
  ERR_NAMESPACE_NOT_ALLOWED: { error: 'invalid_scope', status: 400, check: 'namespace' },
  ERR_SCOPE_NOT_ALLOWED: { error: 'invalid_scope', status: 400, check: 'scope' },
  ERR_RATE_LIMITED: { error: 'temporarily_unavailable', status: 429, check: 'rate_limit' },
  ERR_AUDIT_UNAVAILABLE: { error: 'temporarily_unavailable', status: 503, check: 'unavailable' },
  ERR_UPSTREAM_UNAVAILABLE: { error: 'temporarily_unavailable', status: 503, check: 'unavailable' },
  /** Workers: the config, a secret, the signing keys or a target failed to load (a StartupError is the cause). */
  ERR_NOT_CONFIGURED: { error: 'temporarily_unavailable', status: 503, check: 'config' },
  /** The target's issuer (Entra ID on-behalf-of) refused this subject token: RFC 8693 §2.2.2. */
  ERR_UPSTREAM_REFUSED: { error: 'invalid_request', status: 400, check: 'target' },
  ERR_INTERNAL: { error: 'server_error', status: 500, check: 'internal' },
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof CODES;

export interface StsErrorOptions {
  cause?: unknown;
  /** Overrides the code's default check id (a missing `aud` is an audience failure, say). */
  check?: WireCheck;
  /** Seconds a client should wait (rate limiting). */
  retryAfter?: number;
}

/**
 * A refusal. `message` is written for the client: it says which check failed and never reveals
 * expected values, policy contents or internal detail.
 */
export class StsError extends Error {
  readonly code: ErrorCode;
  readonly check: WireCheck;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: StsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StsError';
    this.code = code;
    this.check = options.check ?? CODES[code].check;
    this.retryAfter = options.retryAfter;
  }
}

/** What keeps the broker from starting (Node) or from answering (Workers): stable codes for /readyz and logs. */
export type StartupCode = 'ERR_CONFIG' | 'ERR_SECRET' | 'ERR_SIGNING_KEYS' | 'ERR_TARGET_SETUP';

/**
 * The one base of every start-up error. Its message is for the operator (stderr), never for a
 * client: on the wire only the code appears. Subclasses: ConfigError, SecretError,
 * SigningKeyError, TargetSetupError.
 */
export class StartupError extends Error {
  readonly code: StartupCode;
  constructor(code: StartupCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
    this.code = code;
  }
}

export interface WireError {
  status: number;
  body: {
    error: OAuthError;
    error_description: string;
    check: WireCheck;
    request_id: string;
  };
  headers: Record<string, string>;
}

/** The single mapping from an error to an RFC 6749 §5.2 response. Unknown errors become a bare 500. */
export function toWireError(err: unknown, requestId: string): WireError {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
  if (!(err instanceof StsError) || err.code === 'ERR_INTERNAL') {
    return {
      status: 500,
      headers,
      body: {
        error: 'server_error',
        error_description: 'internal error; quote the request_id to the operator',
        check: 'internal',
        request_id: requestId,
      },
    };
  }
  const spec = CODES[err.code];
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(err.retryAfter)));
  return {
    status: spec.status,
    headers,
    body: { error: spec.error, error_description: withDiagnosePointer(err), check: err.check, request_id: requestId },
  };
}

/** A refusal by a check (not a malformed request or an outage) says where every check is shown. */
function withDiagnosePointer(err: StsError): string {
  return (CHECK_IDS as readonly string[]).includes(err.check) ? `${err.message}; POST the same parameters to /diagnose to see every check` : err.message;
}

export function wireErrorFor(code: ErrorCode): OAuthError {
  return CODES[code].error;
}
