/**
 * Parsing an RFC 8693 token-exchange request (form-encoded or JSON) into a typed request.
 * Size limits are enforced before any parsing work: the body is read with a cap, and the subject
 * and actor tokens are measured before anyone decodes them.
 */
import { StsError, type WireCheck } from '../errors.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from '../oauth.ts';

const INPUT_TOKEN_TYPES = new Set([TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_ACCESS_TOKEN]);
const OUTPUT_TOKEN_TYPES = new Set([TOKEN_TYPE_JWT, TOKEN_TYPE_ACCESS_TOKEN]);

export const REQUEST_LIMITS = {
  /** Far above any legitimate exchange request; keeps parsing cost bounded. */
  maxBodyBytes: 64 * 1024,
  /** Real IdP tokens are a few KiB; Entra tokens with many groups stay well under this. */
  maxTokenBytes: 16 * 1024,
  /** RFC 6749 scope tokens, space-separated; more than this is not a real request. */
  maxScopes: 32,
  /** `reason` is a sentence for the audit trail (why the credential is needed), not a document. */
  maxReasonChars: 500,
} as const;

const PARAMETERS = [
  'grant_type', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
  'audience', 'resource', 'scope', 'namespace', 'requested_ttl', 'requested_token_type', 'reason',
] as const;
type Parameter = (typeof PARAMETERS)[number];
const KNOWN = new Set<string>(PARAMETERS);

export interface TokenRequest {
  readonly subjectToken: string;
  readonly subjectTokenType: string;
  readonly actorToken: string | undefined;
  readonly actorTokenType: string | undefined;
  readonly audience: string | undefined;
  /** Requested scopes, deduplicated; undefined when omitted or empty. */
  readonly scopes: readonly string[] | undefined;
  readonly namespace: string | undefined;
  readonly requestedTtl: number | undefined;
  readonly requestedTokenType: string;
  /** Extension: the client's free-text reason, sanitized to one line; recorded in the audit event. */
  readonly reason: string | undefined;
}

export type RawParameters = Partial<Record<Parameter, string>>;

function malformed(message: string): StsError {
  return new StsError('ERR_REQUEST_MALFORMED', message);
}

/**
 * Past the cap, the unread rest of a body is read and dropped up to this many bytes before the
 * stream is cancelled (here for a web Request, in functions/node/read-body.ts on Node). A cancelled upload can cost the client its answer: under wrangler dev
 * an 8 MiB body whose stream was cancelled reaches the client as a 500 "Network connection
 * lost" instead of the 400, and a partly read body is no longer drained by anyone else. Reading
 * costs I/O, hardly CPU, and Cloudflare's edge bounds a request body anyway.
 */
export const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

/** Reads a request body with a hard cap, refusing as soon as the cap is passed. */
export async function readBodyCapped(request: Request, maxBytes = REQUEST_LIMITS.maxBodyBytes): Promise<string> {
  // A declared length over the cap is refused before the stream is touched: the runtime then
  // discards the unread body itself.
  refuseDeclaredLength(request.headers.get('content-length'), maxBytes);
  if (!request.body) return '';
  const reader = request.body.getReader();
  return readChunksCapped({
    declaredLength: request.headers.get('content-length'),
    next: async () => {
      const { done, value } = await reader.read();
      return done ? undefined : value;
    },
    cancel: () => drainThenCancel(reader),
  }, maxBytes);
}

async function drainThenCancel(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    for (let drained = 0; drained <= DRAIN_MAX_BYTES;) {
      const { done, value } = await reader.read();
      if (done) return;
      drained += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The client went away: nothing left to answer.
  } finally {
    reader.releaseLock();
  }
}

/** A body as a runtime delivers it: the declared length, then chunks until undefined. */
export interface BodyChunks {
  readonly declaredLength: string | null | undefined;
  next(): Promise<Uint8Array | undefined>;
  /**
   * Past the cap (declared or read): stops reading, leaving the connection able to carry the
   * refusal. A server that closes a connection with unread upload bytes makes the client's TCP
   * stack drop the answer it had already received (a reset), so both runtimes drain up to
   * DRAIN_MAX_BYTES before they give up on the rest.
   */
  cancel(): void | Promise<void>;
}

function refuseDeclaredLength(declared: string | null | undefined, maxBytes: number): void {
  if (declared !== null && declared !== undefined && Number(declared) > maxBytes) {
    throw new StsError('ERR_REQUEST_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
  }
}

/** readBodyCapped for any chunk source (the Node adapter reads the IncomingMessage directly). */
export async function readChunksCapped(body: BodyChunks, maxBytes = REQUEST_LIMITS.maxBodyBytes): Promise<string> {
  try {
    refuseDeclaredLength(body.declaredLength, maxBytes);
  } catch (err) {
    await body.cancel();
    throw err;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let value: Uint8Array | undefined;
    try {
      value = await body.next();
    } catch (err) {
      // The stream fails only when the client hangs up mid-body (ECONNRESET, "aborted"): its abort, not ours.
      throw new StsError('ERR_CLIENT_ABORTED', 'the client closed the connection before the request body was complete', { cause: err });
    }
    if (value === undefined) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await body.cancel();
      throw new StsError('ERR_REQUEST_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return UTF8.decode(bytes);
  } catch {
    throw malformed('request body is not valid UTF-8');
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Form or JSON body → single-valued parameters; a repeated known parameter is refused. */
export function decodeParameters(contentType: string | null, body: string): RawParameters {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const out: RawParameters = {};
  const set = (key: string, value: unknown) => {
    if (!KNOWN.has(key)) return; // RFC 6749 §3.2: unrecognized parameters are ignored
    if (Object.hasOwn(out, key)) throw malformed(`parameter ${key} is repeated`);
    if (Array.isArray(value)) throw malformed(`parameter ${key} is repeated`);
    if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
    if (typeof value !== 'string') throw malformed(`parameter ${key} must be a string`);
    out[key as Parameter] = value;
  };
  if (mediaType === 'application/x-www-form-urlencoded') {
    for (const [key, value] of new URLSearchParams(body)) set(key, value);
  } else if (mediaType === 'application/json') {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      throw malformed('request body is not valid JSON');
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw malformed('JSON request body must be an object');
    // JSON.parse keeps only the last of a repeated member: a repeated parameter all the same.
    const seen = new Set<string>();
    for (const key of topLevelMemberNames(body)) {
      if (seen.has(key) && KNOWN.has(key)) throw malformed(`parameter ${key} is repeated`);
      seen.add(key);
    }
    for (const [key, value] of Object.entries(doc)) set(key, value);
  } else {
    throw malformed('content type must be application/x-www-form-urlencoded or application/json');
  }
  return out;
}

/** The member names of the top-level object of a valid JSON text, in order, repeats included. */
function topLevelMemberNames(json: string): string[] {
  const names: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      const start = i;
      for (i++; json[i] !== '"'; i++) if (json[i] === '\\') i++;
      if (depth !== 1) continue;
      let next = i + 1;
      while (json[next] === ' ' || json[next] === '\t' || json[next] === '\n' || json[next] === '\r') next++;
      if (json[next] === ':') names.push(JSON.parse(json.slice(start, i + 1)) as string);
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
    }
  }
  return names;
}

/** Validates the parameters of a token-exchange request. */
export function parseTokenRequest(params: RawParameters): TokenRequest {
  const grantType = params.grant_type;
  if (!grantType) throw malformed('grant_type is required');
  if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) {
    throw new StsError('ERR_GRANT_TYPE_UNSUPPORTED', `grant_type must be ${GRANT_TYPE_TOKEN_EXCHANGE}`);
  }
  const subjectToken = params.subject_token;
  // The subject token's own problems are the `format` check's, as /diagnose shows them.
  if (!subjectToken) throw new StsError('ERR_REQUEST_MALFORMED', 'subject_token is required', { check: 'format' });
  checkTokenSize('subject_token', subjectToken, 'format');
  const subjectTokenType = params.subject_token_type;
  if (!subjectTokenType) throw malformed('subject_token_type is required');
  if (!INPUT_TOKEN_TYPES.has(subjectTokenType)) throw malformed('subject_token_type is not a supported token type');

  const actorToken = params.actor_token || undefined;
  const actorTokenType = params.actor_token_type || undefined;
  if (actorToken !== undefined) {
    checkTokenSize('actor_token', actorToken);
    if (!actorTokenType) throw malformed('actor_token_type is required with actor_token');
    if (!INPUT_TOKEN_TYPES.has(actorTokenType)) throw malformed('actor_token_type is not a supported token type');
  } else if (actorTokenType !== undefined) {
    throw malformed('actor_token_type given without actor_token');
  }

  if (params.resource !== undefined) throw malformed('resource is not supported; name the target with audience');

  const requestedTokenType = params.requested_token_type || TOKEN_TYPE_JWT;
  if (!OUTPUT_TOKEN_TYPES.has(requestedTokenType)) {
    throw malformed(`requested_token_type must be ${TOKEN_TYPE_JWT} or ${TOKEN_TYPE_ACCESS_TOKEN}`);
  }

  let requestedTtl: number | undefined;
  if (params.requested_ttl !== undefined && params.requested_ttl !== '') {
    if (!/^[1-9]\d{0,8}$/.test(params.requested_ttl)) throw malformed('requested_ttl must be a positive integer of seconds');
    requestedTtl = Number(params.requested_ttl);
  }

  const scopes = parseScope(params.scope);
  const namespace = params.namespace || undefined;
  if (namespace !== undefined && !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(namespace)) {
    throw malformed('namespace is not a valid Kubernetes namespace name');
  }
  const audience = params.audience || undefined;
  if (audience !== undefined && audience.length > 253) throw malformed('audience is too long');

  return {
    subjectToken,
    subjectTokenType,
    actorToken,
    actorTokenType,
    audience,
    scopes,
    namespace,
    requestedTtl,
    requestedTokenType,
    reason: parseReason(params.reason),
  };
}

/**
 * The `reason` extension parameter as it may enter an audit line: control and bidirectional
 * formatting characters become spaces (no forged log lines, no reordered text), whitespace runs
 * collapse, and more than REQUEST_LIMITS.maxReasonChars characters is refused, not truncated.
 */
export function parseReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  const clean = reason.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ').replace(/\s+/g, ' ').trim();
  if (clean === '') return undefined;
  if ([...clean].length > REQUEST_LIMITS.maxReasonChars) throw malformed(`reason is longer than ${REQUEST_LIMITS.maxReasonChars} characters`);
  return clean;
}

function checkTokenSize(name: string, token: string, check?: WireCheck): void {
  // UTF-16 length is a lower bound on UTF-8 bytes; tokens are ASCII, so this is exact for them.
  if (token.length > REQUEST_LIMITS.maxTokenBytes || new TextEncoder().encode(token).byteLength > REQUEST_LIMITS.maxTokenBytes) {
    throw new StsError('ERR_REQUEST_TOO_LARGE', `${name} exceeds ${REQUEST_LIMITS.maxTokenBytes} bytes`, { check });
  }
}

function parseScope(scope: string | undefined): readonly string[] | undefined {
  if (scope === undefined || scope.trim() === '') return undefined;
  const tokens = scope.split(' ').filter((s) => s !== '');
  for (const token of tokens) {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(token)) throw malformed('scope contains an invalid character');
  }
  const unique = [...new Set(tokens)];
  if (unique.length > REQUEST_LIMITS.maxScopes) throw malformed(`at most ${REQUEST_LIMITS.maxScopes} scopes`);
  return unique;
}
