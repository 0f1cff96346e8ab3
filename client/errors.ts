/**
 * The client's errors. A refusal from the broker is an `StsRequestError` carrying the broker's
 * RFC 6749 `error`, the `check` that failed (the same ids as /diagnose) and the `request_id` to
 * quote to an operator. Anything that kept the client from getting an answer (network, timeout,
 * a response that is not the broker's) is an `StsTransportError`. Neither ever holds a token.
 */

export type ClientErrorCode =
  /** The broker refused the request: see `error`, `check`, `requestId`. */
  | 'ERR_STS_REFUSED'
  /** The broker could not be reached or did not answer in time. */
  | 'ERR_STS_UNREACHABLE'
  /** The broker answered with something that is not a token-exchange response. */
  | 'ERR_STS_BAD_RESPONSE'
  /** The client was called with an unusable argument (caught before any request is sent). */
  | 'ERR_STS_USAGE';

export class StsClientError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StsClientError';
    this.code = code;
  }
}

/** The broker's RFC 6749 §5.2 error body. */
export interface BrokerErrorBody {
  readonly error: string;
  readonly error_description?: string;
  readonly check?: string;
  readonly request_id?: string;
  /** authorization_pending (an approval is needed): where an approver decides, and how often to poll. */
  readonly approval_id?: string;
  readonly approval_uri?: string;
  readonly interval?: number;
  readonly expires_in?: number;
}

/** A pending approval, from an authorization_pending answer. */
export interface PendingApproval {
  readonly id: string;
  readonly uri: string;
  /** Seconds between polls. */
  readonly interval: number;
  /** Seconds until the approval request expires. */
  readonly expiresIn: number;
}

export class StsRequestError extends StsClientError {
  readonly status: number;
  /** RFC 6749 error code: invalid_request, invalid_target, invalid_scope, temporarily_unavailable, ... */
  readonly error: string;
  readonly errorDescription: string | undefined;
  /** The failing check: format, issuer, signature, audience, expiry, ..., request, rate_limit, unavailable. */
  readonly check: string | undefined;
  readonly requestId: string | undefined;
  /** Seconds, from Retry-After (429). */
  readonly retryAfter: number | undefined;
  /** Set with authorization_pending: repeat the same request with `approvalId` once an approver decided. */
  readonly approval: PendingApproval | undefined;

  constructor(status: number, body: BrokerErrorBody, retryAfter?: number) {
    super('ERR_STS_REFUSED', `${body.error}${body.error_description ? `: ${body.error_description}` : ''}`);
    this.name = 'StsRequestError';
    this.status = status;
    this.error = body.error;
    this.errorDescription = body.error_description;
    this.check = body.check;
    this.requestId = body.request_id;
    this.retryAfter = retryAfter;
    this.approval = body.error === 'authorization_pending' && body.approval_id && body.approval_uri
      ? { id: body.approval_id, uri: body.approval_uri, interval: body.interval ?? 5, expiresIn: body.expires_in ?? 0 }
      : undefined;
  }

  /** True when trying again later can succeed (429, 503). */
  get retryable(): boolean {
    return this.error === 'temporarily_unavailable';
  }
}

export class StsTransportError extends StsClientError {
  override name = 'StsTransportError';
}
