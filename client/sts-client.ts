/**
 * The broker's endpoints on fetch, split as oauth4webapi does: `build*Request` makes a Request,
 * `process*Response` turns a Response into a result or a typed error, and `exchange` / `diagnose`
 * join them with an injectable fetch and a timeout. Web APIs only: runs on Node, Workers, Deno,
 * browsers and inside agent frameworks.
 */
import { type BrokerErrorBody, StsClientError, StsRequestError, StsTransportError } from './errors.ts';

export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

export const CLIENT_LIMITS = {
  /** A broker answers in milliseconds; this only bounds a hung connection. */
  timeoutMs: 15_000,
  /** A token response is well under 16 KiB; a body over this is not the broker's. */
  maxResponseBytes: 256 * 1024,
} as const;

export type FetchLike = (input: Request) => Promise<Response>;

export interface ClientOptions {
  /** The broker's base URL, e.g. https://sts.example.com */
  readonly broker: string;
  readonly fetch?: FetchLike;
  readonly timeoutMs?: number;
  readonly userAgent?: string;
}

export interface ExchangeRequest {
  readonly subjectToken: string;
  /** Default: id_token. */
  readonly subjectTokenType?: string;
  /** The target's name; may be omitted when the broker has one target. */
  readonly audience?: string;
  /** Space-separated or a list; omitted = every scope of the matched policy. */
  readonly scope?: string | readonly string[];
  readonly namespace?: string;
  /** Requested lifetime in seconds; the broker caps it. */
  readonly ttl?: number;
  /** Delegation: the agent's own token. */
  readonly actorToken?: string;
  /** Default: access_token. */
  readonly actorTokenType?: string;
  /** Free text recorded in the audit event (why the credential is needed). */
  readonly reason?: string;
  /** A poll of a request that answered authorization_pending (StsRequestError.approval.id). */
  readonly approvalId?: string;
}

export interface Credential {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  readonly issuedTokenType: string;
  /** Seconds, as the broker said. */
  readonly expiresIn: number;
  /** Milliseconds since the epoch, computed from the client's clock when the response arrived. */
  readonly expiresAt: number;
  readonly scopes: readonly string[];
  readonly namespace: string;
  readonly requestId: string | undefined;
}

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface DiagnoseCheck {
  readonly check: string;
  readonly status: CheckStatus;
  readonly message: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly hint?: string;
  readonly seconds?: number;
  readonly leeway_seconds?: number;
  readonly policy?: string;
  readonly mismatches?: readonly { field: string; expected: unknown; actual: unknown }[];
}

export interface Diagnosis {
  readonly verdict: 'issue' | 'deny';
  readonly request_id: string;
  readonly server_time: string;
  readonly checks: readonly DiagnoseCheck[];
}

/** A target as GET /targets lists it: public facts only. */
export interface TargetInfo {
  readonly name: string;
  readonly kind: string;
  readonly argo_server?: string;
}

function endpoint(broker: string, path: string): string {
  let base: URL;
  try {
    base = new URL(broker);
  } catch {
    throw new StsClientError('ERR_STS_USAGE', `broker URL is not a URL: ${JSON.stringify(broker.slice(0, 200))}`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new StsClientError('ERR_STS_USAGE', 'broker URL must be http(s)');
  return new URL(path, base.href.endsWith('/') ? base.href : `${base.href}/`).href;
}

/** The form parameters of a token-exchange (or diagnose) request. */
export function exchangeParameters(request: ExchangeRequest): URLSearchParams {
  if (!request.subjectToken) throw new StsClientError('ERR_STS_USAGE', 'a subject token is required');
  const params = new URLSearchParams({
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    subject_token: request.subjectToken,
    subject_token_type: request.subjectTokenType ?? TOKEN_TYPE_ID_TOKEN,
    requested_token_type: TOKEN_TYPE_JWT,
  });
  if (request.audience) params.set('audience', request.audience);
  const scope = typeof request.scope === 'string' ? request.scope.trim() : request.scope?.join(' ');
  if (scope) params.set('scope', scope);
  if (request.namespace) params.set('namespace', request.namespace);
  if (request.ttl !== undefined) {
    if (!Number.isInteger(request.ttl) || request.ttl <= 0) throw new StsClientError('ERR_STS_USAGE', 'ttl must be a positive integer of seconds');
    params.set('requested_ttl', String(request.ttl));
  }
  if (request.actorToken) {
    params.set('actor_token', request.actorToken);
    params.set('actor_token_type', request.actorTokenType ?? TOKEN_TYPE_ACCESS_TOKEN);
  }
  if (request.reason) params.set('reason', request.reason);
  if (request.approvalId) params.set('approval_id', request.approvalId);
  return params;
}

function postForm(options: ClientOptions, path: string, params: URLSearchParams): Request {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (options.userAgent) headers['user-agent'] = options.userAgent;
  return new Request(endpoint(options.broker, path), { method: 'POST', headers, body: params.toString() });
}

export function buildTokenRequest(options: ClientOptions, request: ExchangeRequest): Request {
  return postForm(options, 'token', exchangeParameters(request));
}

export function buildDiagnoseRequest(options: ClientOptions, request: ExchangeRequest): Request {
  return postForm(options, 'diagnose', exchangeParameters(request));
}

/** The body as text, read with a cap: a larger body is refused as soon as the cap is passed. */
async function readCapped(response: Response): Promise<string> {
  const tooLarge = () => new StsTransportError('ERR_STS_BAD_RESPONSE', `the broker's response is larger than ${CLIENT_LIMITS.maxResponseBytes} bytes`);
  if (Number(response.headers.get('content-length') ?? '0') > CLIENT_LIMITS.maxResponseBytes) throw tooLarge();
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > CLIENT_LIMITS.maxResponseBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

async function readJson(response: Response): Promise<unknown> {
  const text = await readCapped(response);
  try {
    return JSON.parse(text);
  } catch {
    throw new StsTransportError('ERR_STS_BAD_RESPONSE', `the broker answered HTTP ${response.status} with a body that is not JSON`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Non-2xx: the broker's OAuth error when the body is one, else a transport error. */
async function refusal(response: Response): Promise<never> {
  if (response.status === 404) {
    throw new StsTransportError('ERR_STS_BAD_RESPONSE', `the broker has no ${new URL(response.url || 'http://x/').pathname} endpoint; is the URL right, and is the broker current?`);
  }
  const body = await readJson(response).catch(() => undefined);
  if (isObject(body) && typeof body.error === 'string') {
    const retryAfter = Number(response.headers.get('retry-after'));
    const errorBody: BrokerErrorBody = {
      error: body.error,
      error_description: typeof body.error_description === 'string' ? body.error_description : undefined,
      check: typeof body.check === 'string' ? body.check : undefined,
      request_id: typeof body.request_id === 'string' ? body.request_id : (response.headers.get('x-request-id') ?? undefined),
      ...(typeof body.approval_id === 'string' && { approval_id: body.approval_id }),
      ...(typeof body.approval_uri === 'string' && { approval_uri: body.approval_uri }),
      ...(typeof body.interval === 'number' && { interval: body.interval }),
      ...(typeof body.expires_in === 'number' && { expires_in: body.expires_in }),
    };
    throw new StsRequestError(response.status, errorBody, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }
  throw new StsTransportError('ERR_STS_BAD_RESPONSE', `the broker answered HTTP ${response.status} without an OAuth error body`);
}

/** Turns a /token response into a Credential; `now` (ms) anchors `expiresAt`. */
export async function processTokenResponse(response: Response, now: number): Promise<Credential> {
  if (!response.ok) return refusal(response);
  const body = await readJson(response);
  if (
    !isObject(body) ||
    typeof body.access_token !== 'string' || body.access_token === '' ||
    typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer' ||
    typeof body.expires_in !== 'number' || !Number.isFinite(body.expires_in) || body.expires_in <= 0
  ) {
    throw new StsTransportError('ERR_STS_BAD_RESPONSE', 'the broker answered 200 without a usable access_token, token_type and expires_in');
  }
  return {
    accessToken: body.access_token,
    tokenType: 'Bearer',
    issuedTokenType: typeof body.issued_token_type === 'string' ? body.issued_token_type : TOKEN_TYPE_JWT,
    expiresIn: body.expires_in,
    expiresAt: now + body.expires_in * 1000,
    scopes: typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : [],
    namespace: typeof body.namespace === 'string' ? body.namespace : '',
    requestId: response.headers.get('x-request-id') ?? undefined,
  };
}

export async function processDiagnoseResponse(response: Response): Promise<Diagnosis> {
  if (!response.ok) return refusal(response);
  const body = await readJson(response);
  if (!isObject(body) || (body.verdict !== 'issue' && body.verdict !== 'deny') || !Array.isArray(body.checks)) {
    throw new StsTransportError('ERR_STS_BAD_RESPONSE', 'the broker answered /diagnose without a verdict and checks');
  }
  return body as unknown as Diagnosis;
}

export async function processTargetsResponse(response: Response): Promise<TargetInfo[]> {
  if (!response.ok) return refusal(response);
  const body = await readJson(response);
  if (!isObject(body) || !Array.isArray(body.targets)) throw new StsTransportError('ERR_STS_BAD_RESPONSE', 'the broker answered /targets without a target list');
  return body.targets.filter((t): t is TargetInfo => isObject(t) && typeof t.name === 'string' && typeof t.kind === 'string');
}

/** Sends a request with a timeout; network failures become StsTransportError. */
export async function send(options: ClientOptions, request: Request): Promise<Response> {
  const doFetch = options.fetch ?? ((r: Request) => fetch(r));
  const timeoutMs = options.timeoutMs ?? CLIENT_LIMITS.timeoutMs;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await doFetch(new Request(request, { signal: controller.signal }));
  } catch (cause) {
    const what = controller.signal.aborted ? `did not answer within ${timeoutMs} ms` : 'could not be reached';
    throw new StsTransportError('ERR_STS_UNREACHABLE', `the broker at ${new URL(request.url).origin} ${what}`, { cause });
  } finally {
    clearTimeout(timer);
  }
}

/** RFC 8693 exchange at POST /token. Throws StsRequestError when the broker refuses. */
export async function exchange(options: ClientOptions, request: ExchangeRequest, clock: () => number = Date.now): Promise<Credential> {
  const response = await send(options, buildTokenRequest(options, request));
  return processTokenResponse(response, clock());
}

/** POST /diagnose: every check, in order, for the same parameters as exchange. Never issues. */
export async function diagnose(options: ClientOptions, request: ExchangeRequest): Promise<Diagnosis> {
  return processDiagnoseResponse(await send(options, buildDiagnoseRequest(options, request)));
}

/** GET /targets: the broker's targets and their public facts (name, kind, argo_server). */
export async function listTargets(options: ClientOptions): Promise<TargetInfo[]> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.userAgent) headers['user-agent'] = options.userAgent;
  return processTargetsResponse(await send(options, new Request(endpoint(options.broker, 'targets'), { headers })));
}

/** POST /approvals/<id>: an approver's decision, proven by the approver's own IdP token. */
export async function decideApproval(options: ClientOptions, id: string, decision: 'approve' | 'deny', approverToken: string): Promise<{ approval_id: string; status: string }> {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new StsTransportError('ERR_STS_BAD_RESPONSE', 'not an approval id');
  const response = await send(options, postForm(options, `approvals/${id}`, new URLSearchParams({ decision, subject_token: approverToken })));
  const body = await readJson(response).catch(() => undefined);
  if (response.ok && isObject(body) && typeof body.status === 'string') return { approval_id: id, status: body.status };
  if (isObject(body) && typeof body.error === 'string') {
    throw new StsRequestError(response.status, {
      error: body.error,
      error_description: typeof body.error_description === 'string' ? body.error_description : undefined,
      check: typeof body.check === 'string' ? body.check : undefined,
      request_id: typeof body.request_id === 'string' ? body.request_id : undefined,
    });
  }
  throw new StsTransportError('ERR_STS_BAD_RESPONSE', `the broker answered HTTP ${response.status} without an OAuth error body`);
}
