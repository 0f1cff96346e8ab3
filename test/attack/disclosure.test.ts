/**
 * What unauthenticated endpoints and /token errors disclose: /readyz reports codes, never internal
 * error text (secret references, file paths, AWS error names, IdP URLs), which goes to stderr; a
 * /token refusal never states a configured limit (max_token_age, max_token_lifetime).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { attackConfig, attackHarness, expectRefused, githubClaims, NOW } from './support.ts';

let github: LoopbackIdp;
let agents: LoopbackIdp;

beforeAll(async () => {
  github = await startLoopbackIdp({ path: '/secret-realm-path' });
  agents = await startLoopbackIdp();
});
afterAll(async () => {
  await Promise.all([github.close(), agents.close()]);
});

describe('/readyz', () => {
  it('reports an IdP whose keys cannot be fetched by code and count, the issuer and the error on stderr only', async () => {
    const h = await attackHarness(attackConfig(github, agents));
    github.setDown(true);
    try {
      expect((await h.exchange({ subject_token: await github.sign(githubClaims(github)), audience: 'argo-prod' })).status).toBe(503);
      const res = await h.app.request('/readyz');
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ status: 'degraded', checks: { idp_keys: { status: 'degraded', error: 'ERR_KEYS_UNAVAILABLE', failing: 1 } } });
      expect(text).not.toContain('secret-realm-path');
      expect(text).not.toContain('127.0.0.1');
      expect(h.errors.join('\n')).toContain(github.issuer);
    } finally {
      github.setDown(false);
    }
  });
});

describe('/token error messages', () => {
  it('a token older than max_token_age is refused without stating the configured age', async () => {
    const h = await attackHarness(attackConfig(github, agents, `
    max_token_age: 1h
    max_token_lifetime: 2h`));
    const old = await github.sign(githubClaims(github, { iat: NOW - 3 * 3600, nbf: NOW - 3 * 3600, exp: NOW + 300 }));
    const tooOld = await expectRefused(h, await h.exchange({ subject_token: old, audience: 'argo-prod' }), { check: 'issued_at' });
    expect(tooOld.error_description).not.toMatch(/3600|1h/);
    const long = await github.sign(githubClaims(github, { exp: NOW + 5 * 3600 }));
    const tooLong = await expectRefused(h, await h.exchange({ subject_token: long, audience: 'argo-prod' }), { check: 'expiry' });
    expect(tooLong.error_description).not.toMatch(/7200|2h/);
    expect(JSON.stringify(h.audits().slice(-2))).not.toMatch(/7200|3600 s this/);
  });
});
