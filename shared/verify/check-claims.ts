/**
 * The claim checks of verification, after the signature: required claims, audience, and the time
 * rules with leeway L (valid while `now < exp + L`, from `now >= nbf - L`, only if
 * `iat <= now + L`), plus the idp's bounds on token age and lifetime. Pure, `now` in seconds.
 */
import type { IdpConfig } from '../config/schema.ts';
import { fail, type Finding, pass } from '../checks.ts';
import type { Claims } from './claims.ts';

/** Defaults for the idp options `max_token_age` and `max_token_lifetime`. */
export const TOKEN_AGE_LIMITS = {
  /** CI and user tokens live minutes to hours; a token issued over a day ago is a replayed one. */
  maxTokenAgeSeconds: 24 * 3600,
  /** An exp more than a day away is not a short-lived credential, whatever signed it. */
  maxTokenLifetimeSeconds: 24 * 3600,
} as const;

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Required claims, audience and time: pure, with `now` in seconds. */
export function checkClaims(claims: Claims, idp: IdpConfig | undefined, now: number): Finding[] {
  const findings: Finding[] = [];
  const leeway = idp?.clock_skew ?? 0;

  if (typeof claims.sub !== 'string' || claims.sub === '') {
    findings.push(fail('format', 'ERR_TOKEN_CLAIM_MISSING', 'the token has no sub claim'));
  }

  const aud = claims.aud;
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : undefined;
  if (!auds || auds.length === 0) {
    findings.push(fail('audience', 'ERR_TOKEN_CLAIM_MISSING', 'the token has no aud claim', { actual: aud ?? null }));
  } else if (idp) {
    const accepted = auds.find((a) => idp.audiences.includes(a));
    findings.push(accepted
      ? pass('audience', `audience "${accepted}" is accepted`, { actual: aud, expected: idp.audiences })
      : fail('audience', 'ERR_AUDIENCE_MISMATCH', "the token's audience is not accepted for its issuer", { actual: aud, expected: idp.audiences }));
  }

  const exp = claims.exp;
  if (!isNumericDate(exp)) {
    findings.push(fail('expiry', 'ERR_TOKEN_CLAIM_MISSING', 'the token has no numeric exp claim', { actual: exp ?? null }));
  } else {
    const past = now - exp;
    const extra = { actual: exp, seconds: past, leeway_seconds: leeway };
    const maxLifetime = idp?.max_token_lifetime ?? TOKEN_AGE_LIMITS.maxTokenLifetimeSeconds;
    if (now >= exp + leeway) {
      findings.push(fail('expiry', 'ERR_TOKEN_EXPIRED', `the token expired ${past} s ago (leeway ${leeway} s)`, extra));
    } else if (-past > maxLifetime + leeway) {
      findings.push(fail('expiry', 'ERR_TOKEN_LIFETIME_TOO_LONG', `the token expires in ${-past} s, more than the ${maxLifetime} s this issuer's tokens may live`, extra));
    } else if (past >= 0) {
      findings.push({ ...pass('expiry', `the token expired ${past} s ago, within the leeway of ${leeway} s`, extra), status: 'warn' });
    } else {
      findings.push(pass('expiry', `the token expires in ${-past} s (leeway ${leeway} s)`, extra));
    }
  }

  const nbf = claims.nbf;
  if (nbf === undefined) {
    findings.push(pass('not_before', 'the token has no nbf claim'));
  } else if (!isNumericDate(nbf)) {
    findings.push(fail('not_before', 'ERR_TOKEN_FORMAT', 'the token nbf claim is not a number', { actual: nbf }));
  } else {
    const ahead = nbf - now;
    const extra = { actual: nbf, seconds: ahead, leeway_seconds: leeway };
    if (now < nbf - leeway) {
      findings.push(fail('not_before', 'ERR_TOKEN_NOT_YET_VALID', `the token is not valid for another ${ahead} s (nbf ${ahead} s in the future; leeway ${leeway} s)`, extra));
    } else if (ahead > 0) {
      findings.push({ ...pass('not_before', `nbf is ${ahead} s in the future, within the leeway of ${leeway} s`, extra), status: 'warn' });
    } else {
      findings.push(pass('not_before', `valid since ${-ahead} s (leeway ${leeway} s)`, extra));
    }
  }

  const iat = claims.iat;
  if (!isNumericDate(iat)) {
    findings.push(fail('issued_at', 'ERR_TOKEN_CLAIM_MISSING', 'the token has no numeric iat claim', { actual: iat ?? null }));
  } else {
    const ahead = iat - now;
    const extra = { actual: iat, seconds: ahead, leeway_seconds: leeway };
    const maxAge = idp?.max_token_age ?? TOKEN_AGE_LIMITS.maxTokenAgeSeconds;
    if (iat > now + leeway) {
      findings.push(fail('issued_at', 'ERR_TOKEN_ISSUED_IN_FUTURE', `the token was issued ${ahead} s in the future: the IdP's clock or this host's is ahead (leeway ${leeway} s)`, extra));
    } else if (-ahead > maxAge + leeway) {
      findings.push(fail('issued_at', 'ERR_TOKEN_TOO_OLD', `the token was issued ${-ahead} s ago, more than the ${maxAge} s this issuer allows (leeway ${leeway} s)`, extra));
    } else if (ahead > 0) {
      findings.push({ ...pass('issued_at', `issued ${ahead} s in the future, within the leeway of ${leeway} s`, extra), status: 'warn' });
    } else {
      findings.push(pass('issued_at', `issued ${-ahead} s ago (leeway ${leeway} s)`, extra));
    }
  }
  return findings;
}
