/** Hints for the token checks: the catalogue's causes with the facts their hints name. */
import { type Cause, causeById, type HintFacts } from './catalogue.ts';
import { audienceCause, entraVersion, formatCause } from './near-miss.ts';
import { compactVerify, createLocalJWKSet, type JWK } from 'jose';
import type { Config, IdpConfig } from '../config/schema.ts';
import type { CheckId } from '../errors.ts';
import { type Finding, pass } from '../checks.ts';
import type { Claims } from '../verify/claims.ts';
import { type Annotated, type DiagnoseDeps, type RevealMode } from './diagnosis.ts';

export interface TokenContext {
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
export function annotateToken(f: Finding, ctx: TokenContext): Annotated {
  if (f.status !== 'fail') return f;
  switch (f.check) {
    case 'format':
      if (f.code !== 'ERR_TOKEN_FORMAT' && f.code !== 'ERR_TOKEN_CLAIM_MISSING') return f;
      return { ...f, cause: formatCause(ctx.raw, f), facts: { actual: String(ctx.raw.split('.').length) } };
    case 'issuer':
      if (f.code !== 'ERR_ISSUER_UNTRUSTED' && f.code !== 'ERR_TOKEN_CLAIM_MISSING') return f;
      return annotateIssuer(f, ctx);
    case 'signature':
      return annotateSignature(f, ctx);
    default:
      return f;
  }
}

export function annotateIssuer(f: Finding, ctx: TokenContext): Annotated {
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

export function annotateSignature(f: Finding, ctx: TokenContext): Annotated {
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
export function annotateClaims(f: Finding, claims: Claims, idp: IdpConfig, serverTime: string): Annotated {
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
export function gateOnSignature(findings: Annotated[], checks: readonly CheckId[], reveal: RevealMode): void {
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
export async function checkOwnCredential(raw: string, kid: string | undefined, claims: Claims, ownKeys: { readonly keys: readonly JWK[] }, now: number): Promise<Annotated> {
  try {
    await compactVerify(raw, createLocalJWKSet({ keys: [...ownKeys.keys] }));
  } catch {
    return { check: 'signature', status: 'fail', code: 'ERR_SIGNATURE_INVALID', message: "the token names this broker as its issuer but no key of this broker's JWKS verifies it", actual: { kid } };
  }
  return pass('signature', `a credential this broker minted, signed with its key ${kid ?? '(no kid)'}${describeGrant(claims, now) ? `: ${describeGrant(claims, now)}` : ''}`, { actual: { kid } });
}

/** What a minted credential grants, from its claims: facts about the presented token. */
export function describeGrant(claims: Claims, now: number): string | undefined {
  if (typeof claims.scope !== 'string' || typeof claims.namespace !== 'string') return undefined;
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const life = exp === undefined ? '' : exp > now ? `, for another ${exp - now} s` : `; it expired ${now - exp} s ago, so Argo and Kubernetes answer 401`;
  return `it grants "${claims.scope}" in namespace "${claims.namespace}" (groups ${JSON.stringify(claims.groups ?? [])})${life}`;
}
