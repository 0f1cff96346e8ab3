import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { type IdpConfig } from '../../shared/config/schema.ts';
import { type CheckId, wireErrorFor } from '../../shared/errors.ts';
import { type Finding, firstFailure } from '../../shared/checks.ts';
import { checkClaims } from '../../shared/verify/check-claims.ts';

const NOW = 1_790_000_000;
const ISSUER = 'https://token.actions.githubusercontent.com';

const config = parseConfigText(`
issuer: https://sts.example.com
signing: { keys: env:SIGNING_KEYS }
defaults: { clock_skew: 60s }
idps:
  - { name: github, issuer: ${ISSUER}, audiences: [argo-sts, https://github.com/acme] }
  - { name: strict, issuer: https://strict.example.com, audiences: [argo-sts], clock_skew: 0 }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies: []
`);
/** Leeway 60 s. */
const idp: IdpConfig = config.idps[0]!;
/** Leeway 0 s. */
const strict: IdpConfig = config.idps[1]!;

/** A valid claim set at NOW: issued now, expires in 5 minutes. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, sub: 'repo:acme/app:ref:refs/heads/main', aud: 'argo-sts', iat: NOW, exp: NOW + 300, ...overrides };
}

function finding(findings: readonly Finding[], check: CheckId): Finding {
  const found = findings.filter((f) => f.check === check);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('checkClaims: a valid token', () => {
  it('passes audience, expiry, not_before and issued_at, in that order', () => {
    const findings = checkClaims(claims({ nbf: NOW - 10 }), idp, NOW);
    expect(findings.map((f) => [f.check, f.status])).toEqual([
      ['audience', 'pass'], ['expiry', 'pass'], ['not_before', 'pass'], ['issued_at', 'pass'],
    ]);
  });

  it('does not require nbf', () => {
    const findings = checkClaims(claims(), idp, NOW);
    expect(finding(findings, 'not_before').status).toBe('pass');
    expect(firstFailure(findings)).toBeUndefined();
  });
});

describe('checkClaims: exp — valid while now < exp + leeway', () => {
  it('passes a token expiring in 1 s', () => {
    const f = finding(checkClaims(claims({ exp: NOW + 1 }), idp, NOW), 'expiry');
    expect(f).toMatchObject({ status: 'pass', seconds: -1, leeway_seconds: 60 });
  });

  it('warns for a token that expired 59 s ago when the leeway is 60 s', () => {
    const f = finding(checkClaims(claims({ exp: NOW - 59, iat: NOW - 359 }), idp, NOW), 'expiry');
    expect(f).toMatchObject({ status: 'warn', seconds: 59, leeway_seconds: 60 });
    expect(f.code).toBeUndefined();
    expect(f.message).toContain('59 s');
    expect(f.message).toContain('60 s');
  });

  it('warns for a token at exactly its exp when the leeway is 60 s', () => {
    expect(finding(checkClaims(claims({ exp: NOW }), idp, NOW), 'expiry')).toMatchObject({ status: 'warn', seconds: 0 });
  });

  it('refuses a token that expired exactly 60 s ago when the leeway is 60 s', () => {
    const f = finding(checkClaims(claims({ exp: NOW - 60, iat: NOW - 360 }), idp, NOW), 'expiry');
    expect(f).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_EXPIRED', seconds: 60, leeway_seconds: 60, actual: NOW - 60 });
    expect(f.message).toContain('60 s');
    expect(wireErrorFor(f.code!)).toBe('invalid_request');
  });

  it('refuses a token at exactly its exp when the leeway is 0 s', () => {
    expect(finding(checkClaims(claims({ exp: NOW }), strict, NOW), 'expiry')).toMatchObject({
      status: 'fail', code: 'ERR_TOKEN_EXPIRED', seconds: 0, leeway_seconds: 0,
    });
  });

  it('passes a token 1 s before its exp when the leeway is 0 s', () => {
    expect(finding(checkClaims(claims({ exp: NOW + 1 }), strict, NOW), 'expiry').status).toBe('pass');
  });

  it('refuses a token without exp', () => {
    const { exp: _exp, ...rest } = claims();
    expect(finding(checkClaims(rest, idp, NOW), 'expiry')).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_CLAIM_MISSING', actual: null });
  });

  it('refuses an exp that is a numeric string', () => {
    expect(finding(checkClaims(claims({ exp: String(NOW + 300) }), idp, NOW), 'expiry')).toMatchObject({
      status: 'fail', code: 'ERR_TOKEN_CLAIM_MISSING', actual: String(NOW + 300),
    });
  });
});

describe('checkClaims: nbf — valid from now >= nbf - leeway', () => {
  it('warns for an nbf exactly 60 s in the future when the leeway is 60 s', () => {
    const f = finding(checkClaims(claims({ nbf: NOW + 60 }), idp, NOW), 'not_before');
    expect(f).toMatchObject({ status: 'warn', seconds: 60, leeway_seconds: 60 });
    expect(f.message).toContain('60 s');
  });

  it('refuses an nbf 61 s in the future when the leeway is 60 s', () => {
    const f = finding(checkClaims(claims({ nbf: NOW + 61 }), idp, NOW), 'not_before');
    expect(f).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_NOT_YET_VALID', seconds: 61, leeway_seconds: 60, actual: NOW + 61 });
    expect(f.message).toContain('61 s');
    expect(f.message).toContain('leeway 60 s');
  });

  it('passes an nbf equal to now when the leeway is 0 s', () => {
    expect(finding(checkClaims(claims({ nbf: NOW }), strict, NOW), 'not_before')).toMatchObject({ status: 'pass', seconds: 0 });
  });

  it('refuses an nbf 1 s in the future when the leeway is 0 s', () => {
    expect(finding(checkClaims(claims({ nbf: NOW + 1 }), strict, NOW), 'not_before')).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_NOT_YET_VALID' });
  });

  it('refuses an nbf that is not a number', () => {
    expect(finding(checkClaims(claims({ nbf: 'yesterday' }), idp, NOW), 'not_before')).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_FORMAT' });
  });
});

describe('checkClaims: iat — valid only if iat <= now + leeway', () => {
  it('refuses a token whose iat is 95 s in the future when the leeway is 60 s', () => {
    const f = finding(checkClaims(claims({ iat: NOW + 95 }), idp, NOW), 'issued_at');
    expect(f).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_ISSUED_IN_FUTURE', seconds: 95, leeway_seconds: 60, actual: NOW + 95 });
    expect(f.message).toContain('95 s');
    expect(f.message).toContain('60 s');
    expect(wireErrorFor(f.code!)).toBe('invalid_request');
  });

  it('warns for a token whose iat is exactly 60 s in the future when the leeway is 60 s', () => {
    expect(finding(checkClaims(claims({ iat: NOW + 60 }), idp, NOW), 'issued_at')).toMatchObject({ status: 'warn', seconds: 60, leeway_seconds: 60 });
  });

  it('refuses a token whose iat is 61 s in the future when the leeway is 60 s', () => {
    expect(finding(checkClaims(claims({ iat: NOW + 61 }), idp, NOW), 'issued_at')).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_ISSUED_IN_FUTURE' });
  });

  it('passes a token issued now when the leeway is 0 s, and refuses one issued 1 s ahead', () => {
    expect(finding(checkClaims(claims(), strict, NOW), 'issued_at')).toMatchObject({ status: 'pass', seconds: 0 });
    expect(finding(checkClaims(claims({ iat: NOW + 1 }), strict, NOW), 'issued_at')).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_ISSUED_IN_FUTURE' });
  });

  it('passes a token issued in the past, saying how long ago', () => {
    const f = finding(checkClaims(claims({ iat: NOW - 120 }), idp, NOW), 'issued_at');
    expect(f).toMatchObject({ status: 'pass', seconds: -120 });
    expect(f.message).toContain('120 s ago');
  });

  it('refuses a token without iat', () => {
    const { iat: _iat, ...rest } = claims();
    expect(finding(checkClaims(rest, idp, NOW), 'issued_at')).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_CLAIM_MISSING', actual: null });
  });
});

describe('checkClaims: required claims and audience', () => {
  it('refuses a token without sub, or with an empty or non-string sub', () => {
    for (const sub of [undefined, '', 42]) {
      const findings = checkClaims(claims({ sub }), idp, NOW);
      expect(firstFailure(findings)).toMatchObject({ check: 'format', code: 'ERR_TOKEN_CLAIM_MISSING' });
    }
  });

  it('accepts aud as a string', () => {
    expect(finding(checkClaims(claims({ aud: 'argo-sts' }), idp, NOW), 'audience')).toMatchObject({ status: 'pass', actual: 'argo-sts' });
  });

  it('accepts aud as an array containing one accepted audience', () => {
    expect(finding(checkClaims(claims({ aud: ['https://other.example.com', 'https://github.com/acme'] }), idp, NOW), 'audience').status).toBe('pass');
  });

  it('refuses aud as a string that is not accepted', () => {
    expect(finding(checkClaims(claims({ aud: 'argo-sts-dev' }), idp, NOW), 'audience')).toMatchObject({
      status: 'fail', code: 'ERR_AUDIENCE_MISMATCH', actual: 'argo-sts-dev',
    });
  });

  it('refuses aud as an array with no accepted audience', () => {
    expect(finding(checkClaims(claims({ aud: ['a', 'b'] }), idp, NOW), 'audience')).toMatchObject({ status: 'fail', code: 'ERR_AUDIENCE_MISMATCH' });
  });

  it('matches audiences exactly: no case or trailing-slash folding', () => {
    expect(finding(checkClaims(claims({ aud: 'Argo-STS' }), idp, NOW), 'audience').status).toBe('fail');
    expect(finding(checkClaims(claims({ aud: 'https://github.com/acme/' }), idp, NOW), 'audience').status).toBe('fail');
  });

  it.each([[undefined], [[]], [[42]], [null], [{ aud: 'argo-sts' }]])('refuses the missing or unusable aud %j as an audience failure', (aud) => {
    expect(finding(checkClaims(claims({ aud }), idp, NOW), 'audience')).toMatchObject({ status: 'fail', code: 'ERR_TOKEN_CLAIM_MISSING' });
  });

  it('reports the failures in verification order: audience before expiry before issued_at', () => {
    const findings = checkClaims(claims({ aud: 'nope', exp: NOW - 3600, iat: NOW + 3600 }), idp, NOW);
    expect(findings.filter((f) => f.status === 'fail').map((f) => f.check)).toEqual(['audience', 'expiry', 'issued_at']);
    expect(firstFailure(findings)!.check).toBe('audience');
  });

  it('uses no leeway and checks no audience when the issuer is unknown', () => {
    const findings = checkClaims(claims({ exp: NOW }), undefined, NOW);
    expect(findings.some((f) => f.check === 'audience')).toBe(false);
    expect(finding(findings, 'expiry')).toMatchObject({ status: 'fail', leeway_seconds: 0 });
  });
});
