/**
 * POST /diagnose: the same parameters as /token, every check the broker can run, never a token.
 *
 * It reuses the exchange's own steps (inspectToken with stopAtFirstFailure off, evaluatePolicy)
 * and adds what a person needs: the near-miss issuer, the known cause of an audience failure,
 * the measured clock skew, the policy trace — hints from shared/check-catalogue.ts.
 *
 * Disclosure (`diagnose.reveal`): facts about the presented token are always shown. Expected
 * values, configuration-naming hints and the policy trace are shown under `full`, or under
 * `verified` (the default) when the token's signature verifies against a configured issuer's keys
 * (including the issuer it nearly names); never under `basic`. Under `verified`, a token whose
 * signature does not verify is not checked against audiences or policies at all, so a forged
 * token learns nothing the configuration holds.
 */
import { AUDIT_TEXT_MAX, contextClaims, failureFields, startAuditEvent } from '../audit/audit-event.ts';
import { sha256Hex } from '../keys/crypto-port.ts';
import { audienceCause, type Cause, causeById, causeForCode, entraVersion, findIssuerNearMiss, formatCause, type HintFacts } from './catalogue.ts';
import { compactVerify, createLocalJWKSet, type JWK } from 'jose';
import type { Config, IdpConfig, PolicyConfig } from '../config/schema.ts';
import { type CheckId, StsError } from '../errors.ts';
import { evaluatePolicy, grantedTtl, identityMismatches, type Mismatch } from '../policy/evaluate-policy.ts';
import type { RequestContext } from '../exchange/exchange-token.ts';
import type { Broker } from '../broker/broker.ts';
import { fail, type Finding, pass, summarizeChecks } from '../checks.ts';
import type { IssuerKeys } from '../verify/issuer-keys.ts';
import { parseTokenRequest, type RawParameters, type TokenRequest } from '../exchange/token-request.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../oauth.ts';
import { checkClaims, checkSignature, inspectToken, verifyToken } from '../verify/verify-subject-token.ts';
import { type Claims } from '../verify/claims.ts';

export type RevealMode = Config['diagnose']['reveal'];

export interface PolicyTraceEntry {
  readonly policy: string;
  readonly matches_identity: boolean;
  readonly mismatches: readonly Mismatch[];
}

export interface DiagnosisCheck {
  readonly check: CheckId;
  readonly status: Finding['status'];
  readonly message: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly hint?: string;
  /** The catalogue cause, e.g. `issuer.trailing-slash` (a docs/troubleshooting.md anchor). */
  readonly cause?: string;
  readonly seconds?: number;
  readonly leeway_seconds?: number;
  readonly policy?: string;
  readonly mismatches?: readonly Mismatch[];
  /** Policy check: every policy, identity-matching first, then by fewest failing clauses. */
  readonly trace?: readonly PolicyTraceEntry[];
}

export interface RequestProblem {
  readonly parameter: string;
  readonly message: string;
}

/** What the presented token says, unverified: always shown. */
export interface TokenFacts {
  readonly alg?: string | undefined;
  readonly kid?: string | undefined;
  readonly typ?: string | undefined;
  readonly iss?: unknown;
  readonly sub?: unknown;
  readonly aud?: unknown;
  readonly iat?: unknown;
  readonly nbf?: unknown;
  readonly exp?: unknown;
}

export interface Diagnosis {
  readonly verdict: 'issue' | 'deny';
  readonly request_id: string;
  readonly server_time: string;
  /** `full` when expected values, hints and the policy trace are shown; else `summarized`. */
  readonly disclosure: 'full' | 'summarized';
  readonly token?: TokenFacts;
  /** Parameters /token would refuse that no check covers (grant_type, requested_ttl, ...). */
  readonly request_problems?: readonly RequestProblem[];
  readonly checks: readonly DiagnosisCheck[];
}

export interface DiagnoseDeps {
  readonly config: Config;
  readonly issuerKeys: IssuerKeys;
  /** The broker's rate limits: a verified identity over them gets 429, like /token. */
  readonly rateLimits?: Broker['rateLimits'];
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** The broker's published keys: a credential it minted is recognised and explained. */
  readonly ownKeys?: { readonly keys: readonly JWK[] } | undefined;
}

/** A finding with what /diagnose adds: the catalogue cause and the facts its hint names. */
interface Annotated extends Finding {
  readonly cause?: Cause;
  readonly facts?: HintFacts;
  readonly trace?: readonly PolicyTraceEntry[];
}

interface AuditFacts {
  idp?: string;
  iss?: string;
  sub?: string;
  policy?: string;
  target?: string;
  namespace?: string;
  scopes?: readonly string[];
  context?: Record<string, string>;
}

const CLAIM_CHECKS: ReadonlySet<CheckId> = new Set(['audience', 'expiry', 'not_before', 'issued_at']);
const REQUEST_CHECKS: readonly CheckId[] = ['policy', 'target', 'namespace', 'scope'];

/** Runs every check for a request's parameters. Pure apart from fetching configured issuers' keys. */
export async function diagnose(deps: DiagnoseDeps, params: RawParameters, requestId: string): Promise<{ diagnosis: Diagnosis; audit: AuditFacts }> {
  const { config } = deps;
  const now = Math.floor(deps.clock() / 1000);
  const serverTime = new Date(now * 1000).toISOString();
  const audit: AuditFacts = {};
  const findings: Annotated[] = [];
  const { problems, request } = readRequest(params, findings);

  let raw = params.subject_token ?? '';
  if (/^bearer\s+/i.test(raw)) {
    raw = raw.replace(/^bearer\s+/i, '');
    findings.push({ ...fail('format', 'ERR_TOKEN_FORMAT', 'the token starts with "Bearer ": send the bare JWT as subject_token'), cause: causeById('format.bearer-prefix') });
  }

  let revealed = config.diagnose.reveal === 'full';
  let token: TokenFacts | undefined;
  if (request.tokenUsable) {
    const inspection = await inspectToken(raw, { idps: config.idps, keys: deps.issuerKeys, now }, { stopAtFirstFailure: false });
    const { header, claims } = inspection;
    if (inspection.signatureVerified && inspection.idp && typeof claims?.sub === 'string') {
      await deps.rateLimits?.enforce(inspection.idp, claims.sub, deps.clock());
    }
    if (header) token = { alg: header.alg, kid: header.kid, typ: header.typ };
    if (claims) token = { ...token, iss: claims.iss, sub: claims.sub, aud: claims.aud, iat: claims.iat, nbf: claims.nbf, exp: claims.exp };

    const iss = typeof claims?.iss === 'string' ? claims.iss : undefined;
    const near = !inspection.idp && iss ? findIssuerNearMiss(iss, config.idps) : undefined;
    let nearVerified = false;
    let nearSignature: Annotated | undefined;
    if (near && header) {
      const signature = await checkSignature(raw, header, near.idp, deps.issuerKeys);
      nearVerified = signature.status === 'pass';
      nearSignature = nearVerified
        ? { ...signature, message: `the signature verifies with a key of idp "${near.idp.name}", whose issuer the token nearly names` }
        : signature;
    }
    if (iss !== undefined && iss === config.issuer && header && claims && deps.ownKeys) {
      findings.push(await checkOwnCredential(raw, header.kid, claims, deps.ownKeys, now));
    }
    const verified = inspection.signatureVerified || nearVerified;
    if (config.diagnose.reveal === 'verified') revealed = verified;

    for (const f of inspection.findings) {
      if (!inspection.idp && CLAIM_CHECKS.has(f.check)) continue; // recomputed below with the right leeway
      findings.push(annotateToken(f, { raw, config, deps, near, serverTime, iss, grant: claims && describeGrant(claims, now) }));
    }
    if (nearSignature && revealed) findings.push(annotateToken(nearSignature, { raw, config, deps, near, serverTime, iss }));
    if (iss) audit.iss = iss.slice(0, AUDIT_TEXT_MAX);
    if (typeof claims?.sub === 'string') audit.sub = claims.sub.slice(0, AUDIT_TEXT_MAX);

    if (claims) {
      const claimIdp = inspection.idp ?? near?.idp;
      if (!inspection.idp) {
        // An untrusted issuer: times with the idp it nearly names, else with the default leeway.
        const timeIdp: IdpConfig = claimIdp ?? {
          ...config.idps[0]!,
          clock_skew: config.defaults.clock_skew,
          max_token_age: undefined,
          max_token_lifetime: undefined,
        };
        for (const f of checkClaims(claims, timeIdp, now)) {
          if (!CLAIM_CHECKS.has(f.check)) continue;
          if (f.check === 'audience' && !claimIdp && f.code !== 'ERR_TOKEN_CLAIM_MISSING') {
            findings.push({ check: 'audience', status: 'skip', message: 'not checked: no configured issuer, so no accepted audiences apply', actual: claims.aud });
            continue;
          }
          findings.push(annotateClaims(f, claims, timeIdp, serverTime));
        }
      } else {
        for (let i = 0; i < findings.length; i++) {
          const f = findings[i]!;
          if (CLAIM_CHECKS.has(f.check)) findings[i] = annotateClaims(f, claims, inspection.idp, serverTime);
        }
      }
      if (!verified && !revealed) gateOnSignature(findings, ['audience'], config.diagnose.reveal);

      const policyIdp = inspection.idp ?? (near && (nearVerified || config.diagnose.reveal === 'full') ? near.idp : undefined);
      if (policyIdp && (verified || revealed)) {
        audit.idp = policyIdp.name;
        audit.context = contextClaims(claims);
        findings.push(...(await evaluateRequest(deps, policyIdp, claims, request, now, audit)));
      } else if (policyIdp) {
        gateOnSignature(findings, REQUEST_CHECKS, config.diagnose.reveal);
      }
    }
  }

  const checks = summarizeChecks(findings.map(withCodeCause)).map((f) => present(f as Annotated, revealed));
  const failed = checks.some((c) => c.status === 'fail') || problems.length > 0;
  return {
    diagnosis: {
      verdict: failed ? 'deny' : 'issue',
      request_id: requestId,
      server_time: serverTime,
      disclosure: revealed ? 'full' : 'summarized',
      ...(token && { token }),
      ...(problems.length > 0 && { request_problems: problems }),
      checks,
    },
    audit,
  };
}

/** POST /diagnose end to end: read the body, diagnose, audit one event. An unreadable body throws (400). */
export async function runDiagnosis(broker: Broker, readParameters: () => Promise<RawParameters>, ctx: RequestContext): Promise<Diagnosis> {
  const started = broker.clock();
  const event = startAuditEvent('diagnose', 'diagnosed', ctx, started);
  try {
    await broker.rateLimits.enforceClient(broker.config.rate_limit?.per_client_ip, ctx.clientIp, started);
    const params = await readParameters();
    if (params.subject_token) event.subject_token_sha256 = await sha256Hex(params.subject_token);
    const { diagnosis, audit } = await diagnose({ ...broker, ownKeys: broker.signingKeys.jwks }, params, ctx.requestId);
    const failure = diagnosis.checks.find((c) => c.status === 'fail');
    Object.assign(event, audit, {
      check: failure?.check ?? (diagnosis.request_problems ? 'request' : undefined),
      reason: failure?.message ?? diagnosis.request_problems?.[0]?.message,
      latency_ms: broker.clock() - started,
    });
    event.reason = event.reason?.slice(0, AUDIT_TEXT_MAX);
    await broker.audit.recordDenial(event);
    return diagnosis;
  } catch (err) {
    Object.assign(event, { ...failureFields(err), latency_ms: broker.clock() - started });
    await broker.audit.recordDenial(event);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The request: parameters /token would refuse become findings of the check they concern, or
// request problems. Each parameter is validated by /token's own parser, alone.

interface LenientRequest {
  readonly tokenUsable: boolean;
  readonly audience: string | undefined;
  readonly namespace: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly requestedTtl: number | undefined;
  readonly actorToken: string | undefined;
}

const VALID_BASE: RawParameters = { grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: 'x', subject_token_type: TOKEN_TYPE_JWT };

function parseAlone(params: RawParameters): TokenRequest | string {
  try {
    return parseTokenRequest({ ...VALID_BASE, ...params });
  } catch (err) {
    if (err instanceof StsError) return err.message;
    throw err;
  }
}

function readRequest(params: RawParameters, findings: Annotated[]): { problems: RequestProblem[]; request: LenientRequest } {
  const problems: RequestProblem[] = [];
  for (const name of ['grant_type', 'subject_token_type', 'requested_token_type', 'requested_ttl', 'resource'] as const) {
    if (params[name] === undefined) continue;
    const result = parseAlone({ [name]: params[name] });
    if (typeof result === 'string') problems.push({ parameter: name, message: result });
  }
  let actorToken: string | undefined;
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
    const result = parseAlone({ actor_token: params.actor_token, actor_token_type: params.actor_token_type });
    if (typeof result === 'string') problems.push({ parameter: 'actor_token', message: result });
    else actorToken = result.actorToken;
  }

  const scope = parseAlone({ scope: params.scope });
  if (typeof scope === 'string') findings.push({ ...fail('scope', 'ERR_REQUEST_MALFORMED', scope, { actual: params.scope }), cause: causeById('scope.malformed') });
  const namespace = parseAlone({ namespace: params.namespace });
  if (typeof namespace === 'string') findings.push({ ...fail('namespace', 'ERR_REQUEST_MALFORMED', namespace, { actual: params.namespace }), cause: causeById('namespace.malformed') });
  const audience = parseAlone({ audience: params.audience });
  if (typeof audience === 'string') findings.push(fail('target', 'ERR_REQUEST_MALFORMED', audience));
  const ttl = parseAlone({ requested_ttl: params.requested_ttl });

  let tokenUsable = true;
  if (!params.subject_token) {
    findings.push({ ...fail('format', 'ERR_REQUEST_MALFORMED', 'no subject_token was given'), cause: causeById('format.missing') });
    tokenUsable = false;
  } else {
    const size = parseAlone({ subject_token: params.subject_token });
    if (typeof size === 'string') {
      findings.push({ ...fail('format', 'ERR_REQUEST_TOO_LARGE', size), cause: causeById('format.too-large') });
      tokenUsable = false;
    }
  }
  return {
    problems,
    request: {
      tokenUsable,
      audience: typeof audience === 'string' ? undefined : audience.audience,
      namespace: typeof namespace === 'string' ? undefined : namespace.namespace,
      scopes: typeof scope === 'string' ? undefined : scope.scopes,
      requestedTtl: typeof ttl === 'string' ? undefined : ttl.requestedTtl,
      actorToken,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Hints for the token checks.

interface TokenContext {
  readonly raw: string;
  readonly config: Config;
  readonly deps: DiagnoseDeps;
  readonly near: { idp: IdpConfig; cause: Cause } | undefined;
  readonly serverTime: string;
  readonly iss: string | undefined;
  /** For a credential this broker minted: what it grants, from its own claims. */
  readonly grant?: string | undefined;
}

/** Shape and issuer failures of the core; a preset's named refusals keep the cause of their code. */
function annotateToken(f: Finding, ctx: TokenContext): Annotated {
  if (f.status !== 'fail') return f;
  switch (f.check) {
    case 'format':
      if (f.code !== 'ERR_TOKEN_FORMAT' && f.code !== 'ERR_TOKEN_CLAIM_MISSING') return f;
      return { ...f, cause: formatCause(ctx.raw, f.message), facts: { actual: String(ctx.raw.split('.').length) } };
    case 'issuer':
      if (f.code !== 'ERR_ISSUER_UNTRUSTED' && f.code !== 'ERR_TOKEN_CLAIM_MISSING') return f;
      return annotateIssuer(f, ctx);
    case 'signature':
      return annotateSignature(f, ctx);
    default:
      return f;
  }
}

function annotateIssuer(f: Finding, ctx: TokenContext): Annotated {
  const { iss, near, config } = ctx;
  if (!iss) return { ...f, cause: causeById('issuer.missing') };
  if (iss === config.issuer) return { ...f, cause: causeById('issuer.own-token'), facts: { actual: ctx.grant } };
  if (near) {
    const detail = near.cause.id === 'issuer.entra-version' ? entraVersion(iss) : undefined;
    return { ...f, expected: near.idp.issuer, cause: near.cause, facts: { actual: iss, expected: near.idp.issuer, detail } };
  }
  const issuers = config.idps.map((idp) => idp.issuer);
  return { ...f, expected: issuers, cause: causeById('issuer.untrusted'), facts: { actual: iss, expected: issuers.map((i) => `\`${i}\``).join(', ') } };
}

function annotateSignature(f: Finding, ctx: TokenContext): Annotated {
  const actual = (f.actual ?? {}) as { alg?: string; kid?: string };
  const idp = ctx.config.idps.find((candidate) => candidate.issuer === ctx.iss) ?? ctx.near?.idp;
  const list = (value: unknown) => (Array.isArray(value) ? value.map((v) => `\`${String(v)}\``).join(', ') : undefined);
  switch (f.code) {
    case 'ERR_KEY_NOT_FOUND':
      return { ...f, cause: causeById('signature.kid-unknown'), facts: { actual: actual.kid ?? '(none)', expected: list(f.expected) } };
    case 'ERR_KEYS_UNAVAILABLE':
      return { ...f, cause: causeById('signature.keys-unavailable'), facts: { detail: idp ? ctx.deps.issuerKeys.failures()[idp.issuer] : undefined } };
    case 'ERR_ALGORITHM_NOT_ALLOWED':
      return { ...f, cause: causeById('signature.algorithm'), facts: { actual: actual.alg, expected: list(f.expected) } };
    case 'ERR_SIGNATURE_INVALID':
      return { ...f, cause: causeById('signature.invalid') };
    default:
      return f;
  }
}

/** Audience causes and the catalogue's time messages, with server time and the measured skew. */
function annotateClaims(f: Finding, claims: Claims, idp: IdpConfig, serverTime: string): Annotated {
  const time = (field: 'exp' | 'nbf' | 'iat') => {
    const value = claims[field];
    return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) < 1e11 ? new Date(value * 1000).toISOString() : String(value);
  };
  const facts = (field: 'exp' | 'nbf' | 'iat'): HintFacts => ({ seconds: f.seconds, leeway: f.leeway_seconds, at: time(field), serverTime });
  const withCause = (id: string, hintFacts: HintFacts = {}): Annotated => {
    const cause = causeById(id);
    return { ...f, cause, facts: hintFacts, message: cause.message ? cause.message(hintFacts) : f.message };
  };
  switch (f.check) {
    case 'audience': {
      if (f.status !== 'fail') return f;
      const aud = claims.aud;
      const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
      const cause = audienceCause(auds, idp.issuer, idp.preset, idp.audiences);
      const single = ['audience.keycloak-no-mapper', 'audience.github-default', 'audience.gitlab'].includes(cause.id);
      const expected = single ? idp.audiences[0] : idp.audiences.map((a) => `\`${a}\``).join(', ');
      return { ...f, cause, facts: { actual: auds.join(', ') || '(none)', expected } };
    }
    case 'expiry':
      if (f.code === 'ERR_TOKEN_CLAIM_MISSING') return withCause('expiry.missing');
      if (f.code === 'ERR_TOKEN_EXPIRED') return withCause('expiry.expired', facts('exp'));
      if (f.status === 'warn') return withCause('expiry.within-leeway', facts('exp'));
      return f;
    case 'not_before':
      if (f.code === 'ERR_TOKEN_NOT_YET_VALID') return withCause('not_before.future', facts('nbf'));
      return f;
    case 'issued_at':
      if (f.code === 'ERR_TOKEN_CLAIM_MISSING') return withCause('issued_at.missing');
      if (f.code === 'ERR_TOKEN_ISSUED_IN_FUTURE') return withCause('issued_at.future', facts('iat'));
      return f;
    default:
      return f;
  }
}

/** Replaces findings of checks that need a verified signature with a skip that says why. */
function gateOnSignature(findings: Annotated[], checks: readonly CheckId[], reveal: RevealMode): void {
  const why = reveal === 'basic'
    ? 'not evaluated: the token is not from a trusted issuer with a verified signature'
    : "not evaluated: the token's signature did not verify against a configured issuer's keys (diagnose.reveal: verified)";
  for (const check of checks) {
    const facts = findings.filter((f) => f.check === check);
    const actual = facts.find((f) => f.actual !== undefined)?.actual;
    for (const f of facts) findings.splice(findings.indexOf(f), 1);
    findings.push({ check, status: 'skip', message: why, ...(actual !== undefined && { actual }) });
  }
}

/** Verifies a token that names this broker as its issuer against the broker's own keys. */
async function checkOwnCredential(raw: string, kid: string | undefined, claims: Claims, ownKeys: { readonly keys: readonly JWK[] }, now: number): Promise<Annotated> {
  try {
    await compactVerify(raw, createLocalJWKSet({ keys: [...ownKeys.keys] }));
  } catch {
    return { check: 'signature', status: 'fail', code: 'ERR_SIGNATURE_INVALID', message: "the token names this broker as its issuer but no key of this broker's JWKS verifies it", actual: { kid } };
  }
  return pass('signature', `a credential this broker minted, signed with its key ${kid ?? '(no kid)'}${describeGrant(claims, now) ? `: ${describeGrant(claims, now)}` : ''}`, { actual: { kid } });
}

/** What a minted credential grants, from its claims: facts about the presented token. */
function describeGrant(claims: Claims, now: number): string | undefined {
  if (typeof claims.scope !== 'string' || typeof claims.namespace !== 'string') return undefined;
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const life = exp === undefined ? '' : exp > now ? `, for another ${exp - now} s` : `; it expired ${now - exp} s ago, so Argo and Kubernetes answer 401`;
  return `it grants "${claims.scope}" in namespace "${claims.namespace}" (groups ${JSON.stringify(claims.groups ?? [])})${life}`;
}

// ---------------------------------------------------------------------------------------------
// Policy, target, namespace, scope.

async function evaluateRequest(
  deps: DiagnoseDeps,
  idp: IdpConfig,
  claims: Claims,
  request: LenientRequest,
  now: number,
  audit: AuditFacts,
): Promise<Annotated[]> {
  const { config } = deps;
  const out: Annotated[] = [];
  const target = request.audience ?? (config.targets.length === 1 ? config.targets[0]!.name : undefined);
  audit.target = target;
  audit.namespace = request.namespace;
  audit.scopes = request.scopes;

  let actor: { idp: string; claims: Claims } | undefined;
  if (request.actorToken !== undefined) {
    const verified = await verifyToken(request.actorToken, { idps: config.idps, keys: deps.issuerKeys, now });
    if ('failure' in verified) {
      out.push({ ...fail('policy', verified.failure.code ?? 'ERR_INTERNAL', `actor_token: ${verified.failure.message}`), cause: causeById('policy.actor-token') });
    } else {
      actor = { idp: verified.idp.name, claims: verified.claims };
    }
  }

  const trace = policyTrace(config.policies, idp.name, claims, target, request.namespace, request.scopes);
  const decision = evaluatePolicy(config, { idp: idp.name, claims, target: target ?? '', namespace: request.namespace, scopes: request.scopes, actor });
  const nearest = trace[0];
  audit.policy = decision.grant?.policy.id ?? decision.findings.find((f) => f.status === 'fail')?.policy;
  for (const f of decision.findings) {
    if (f.check === 'target' && target === undefined) continue;
    const delegation = f.code === 'ERR_DELEGATION_DENIED' && actor ? { mismatches: delegationMismatches(config, f.policy, actor) } : {};
    out.push(annotateRequestFinding({ ...f, ...delegation }, config, trace, target, decision.grant?.policy.id));
  }
  if (target === undefined) {
    out.push({ ...fail('target', 'ERR_REQUEST_MALFORMED', 'audience is required: name the target (several are configured)'), cause: causeById('target.omitted') });
  }
  out.push(...requestOnlyFailures(config, out, target, request.scopes));
  if (decision.malformed) {
    const namespaces = nearest && config.policies.find((p) => p.id === nearest.policy)?.namespaces;
    out.push({
      ...fail('namespace', 'ERR_REQUEST_MALFORMED', decision.malformed, { expected: namespaces }),
      cause: causeById('namespace.omitted'),
      facts: { expected: namespaces?.join(', ') },
    });
  }
  const grant = decision.grant;
  if (grant) {
    audit.namespace = grant.namespace;
    audit.scopes = grant.scopes;
    const ttl = grantedTtl(config, grant.policy, request.requestedTtl);
    if (request.requestedTtl !== undefined && ttl < request.requestedTtl) {
      out.push({
        check: 'scope',
        status: 'warn',
        message: `requested_ttl ${request.requestedTtl} s is capped: the token would live ${ttl} s`,
        actual: request.requestedTtl,
        expected: ttl,
        policy: grant.policy.id,
        cause: causeById('scope.ttl-capped'),
        facts: { actual: String(request.requestedTtl), expected: String(ttl) },
      });
    } else {
      const index = out.findIndex((f) => f.check === 'scope' && f.status === 'pass');
      if (index >= 0) out[index] = { ...out[index]!, message: `${out[index]!.message}; the token would live ${ttl} s` };
    }
  }
  return out;
}

function annotateRequestFinding(
  f: Finding,
  config: Config,
  trace: readonly PolicyTraceEntry[],
  target: string | undefined,
  answering: string | undefined,
): Annotated {
  const list = (values: readonly string[] | undefined) => values?.map((v) => `\`${v}\``).join(', ');
  if (f.check === 'policy') {
    // The identity matched: the nearest policy is the answering one, or else the identity-matching
    // one with the fewest failing clauses (the trace's first), with those clauses.
    const nearest = f.status === 'pass' && (answering === undefined ? trace[0] : trace.find((t) => t.policy === answering));
    const withTrace = { ...f, trace, ...(nearest && { policy: nearest.policy, mismatches: nearest.mismatches }) };
    if (f.code === 'ERR_POLICY_NO_MATCH') return { ...withTrace, cause: causeById('policy.no-match'), facts: { expected: f.policy } };
    if (f.code === 'ERR_DELEGATION_DENIED') return { ...withTrace, cause: causeById('policy.delegation'), facts: { expected: f.policy } };
    return withTrace;
  }
  if (f.check === 'target') {
    if (f.code === 'ERR_TARGET_UNKNOWN') {
      const names = config.targets.map((t) => t.name);
      return { ...f, expected: names, cause: causeById('target.unknown'), facts: { actual: target, expected: list(names) } };
    }
    if (f.code === 'ERR_TARGET_NOT_ALLOWED') {
      const allowed = [...new Set(trace.filter((t) => t.matches_identity).flatMap((t) => config.policies.find((p) => p.id === t.policy)?.targets ?? []))];
      return { ...f, expected: allowed, cause: causeById('target.not-allowed'), facts: { expected: list(allowed) } };
    }
    if (f.status === 'pass') return { ...f, cause: causeById('target.argo') };
    return f;
  }
  if (f.check === 'namespace' && f.code === 'ERR_NAMESPACE_NOT_ALLOWED') {
    return { ...f, cause: causeById('namespace.not-allowed'), facts: { expected: list(f.expected as string[] | undefined) } };
  }
  if (f.check === 'scope' && f.code === 'ERR_SCOPE_NOT_ALLOWED') {
    const unknown = f.expected === undefined;
    return { ...f, cause: causeById(unknown ? 'scope.unknown' : 'scope.not-allowed'), facts: { expected: list(f.expected as string[] | undefined) } };
  }
  return f;
}

/**
 * What is wrong with the request whoever presents it — an unknown target, an unknown scope — for
 * the checks policy evaluation stopped before (it stops at the first failure, as /token does).
 */
function requestOnlyFailures(config: Config, out: readonly Annotated[], target: string | undefined, scopes: readonly string[] | undefined): Annotated[] {
  const ran = (check: CheckId) => out.some((f) => f.check === check);
  const extra: Annotated[] = [];
  if (target !== undefined && !ran('target') && !config.targets.some((t) => t.name === target)) {
    const names = config.targets.map((t) => t.name);
    extra.push({
      ...fail('target', 'ERR_TARGET_UNKNOWN', `unknown audience "${target}"`, { actual: target, expected: names }),
      cause: causeById('target.unknown'),
      facts: { actual: target, expected: names.map((n) => `\`${n}\``).join(', ') },
    });
  }
  const unknown = scopes?.filter((s) => !config.scopes.has(s)) ?? [];
  if (unknown.length > 0 && !ran('scope')) {
    extra.push({ ...fail('scope', 'ERR_SCOPE_NOT_ALLOWED', `unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}`, { actual: scopes }), cause: causeById('scope.unknown') });
  }
  return extra;
}

/** The failing clauses of the answering policy's nearest delegation rule for this actor. */
function delegationMismatches(config: Config, policyId: string | undefined, actor: { idp: string; claims: Claims }): Mismatch[] {
  const actors = config.policies.find((p) => p.id === policyId)?.delegation?.actors ?? [];
  if (actors.length === 0) return [{ field: 'delegation', expected: 'a delegation.actors rule', actual: `${actor.idp}:${String(actor.claims.sub)}` }];
  const traces = actors.map((m, i) => identityMismatches(m, actor.idp, actor.claims).map((x) => ({ ...x, field: `delegation.actors[${i}].${x.field}` })));
  return traces.reduce((best, t) => (t.length < best.length ? t : best));
}

/**
 * Every policy's failing clauses for this identity and request: identity-matching policies
 * first, then by fewest failing clauses, ties in config order.
 */
export function policyTrace(
  policies: readonly PolicyConfig[],
  idp: string,
  claims: Claims,
  target: string | undefined,
  namespace: string | undefined,
  scopes: readonly string[] | undefined,
): PolicyTraceEntry[] {
  const entries = policies.map((policy, index) => {
    const identity = identityMismatches(policy, idp, claims);
    const mismatches: Mismatch[] = [...identity];
    if (target !== undefined && !policy.targets.includes(target)) mismatches.push({ field: 'target', expected: policy.targets, actual: target });
    if (namespace !== undefined && !policy.namespaces.includes(namespace)) mismatches.push({ field: 'namespaces', expected: policy.namespaces, actual: namespace });
    if (scopes !== undefined && !scopes.every((s) => policy.scopes.includes(s))) mismatches.push({ field: 'scopes', expected: policy.scopes, actual: scopes });
    return { index, entry: { policy: policy.id, matches_identity: identity.length === 0, mismatches } };
  });
  entries.sort((a, b) =>
    Number(b.entry.matches_identity) - Number(a.entry.matches_identity) ||
    a.entry.mismatches.length - b.entry.mismatches.length ||
    a.index - b.index);
  return entries.map((e) => e.entry);
}

// ---------------------------------------------------------------------------------------------
// Disclosure.

/** Undisclosed, a hint names only facts about the token: configured values stay placeholders. */
function tokenFactsOnly(facts: HintFacts | undefined): HintFacts {
  if (!facts) return {};
  const { expected: _expected, detail: _detail, ...rest } = facts;
  return rest;
}

/** A failure nothing more precise explained gets the cause its code stands for. */
function withCodeCause(f: Annotated): Annotated {
  if (f.cause || f.status !== 'fail') return f;
  const cause = causeForCode(f.code);
  return cause ? { ...f, cause, facts: { ...f.facts, expected: f.policy } } : f;
}

function present(f: Annotated, revealed: boolean): DiagnosisCheck {
  const showHint = f.cause !== undefined && (revealed || !f.cause.discloses);
  return {
    check: f.check,
    status: f.status,
    message: f.message,
    ...(revealed && f.expected !== undefined && { expected: f.expected }),
    ...(f.actual !== undefined && { actual: f.actual }),
    ...(f.seconds !== undefined && { seconds: f.seconds }),
    ...(f.leeway_seconds !== undefined && { leeway_seconds: f.leeway_seconds }),
    ...(showHint && { hint: f.cause!.hint(revealed ? (f.facts ?? {}) : tokenFactsOnly(f.facts)), cause: f.cause!.id }),
    ...(revealed && f.policy !== undefined && { policy: f.policy }),
    ...(revealed && f.mismatches !== undefined && { mismatches: f.mismatches }),
    ...(revealed && f.trace !== undefined && { trace: f.trace }),
  };
}
