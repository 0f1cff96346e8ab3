/**
 * Hostile claims against the policy engine, through the real app: claim names that JavaScript
 * objects inherit (constructor, __proto__, toString, ...) must not make a CEL condition unable to
 * run, a condition that cannot run never widens access (a deny policy denies, an allow policy does
 * not match, both audited with the reason), and a deny policy never fails open on an absent claim.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/app-harness.ts';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { attackHarness, expectRefused, githubClaims, signAsIdp } from './support.ts';

let github: LoopbackIdp;
let h: Harness;

export const HOSTILE_CLAIM_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__', 'isPrototypeOf'];

function policyConfig(): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: no-pull-requests
    effect: deny
    idp: github
    subject_pattern: "repo:acme/*"
    condition: 'claims.event_name == "pull_request"'
  - id: private-only
    effect: deny
    idp: github
    subject_pattern: "repo:acme/*"
    claims: { repository_visibility: { not: private } }
  - id: ci
    idp: github
    target: argo-prod
    subject_pattern: "repo:acme/*"
    claims: { repository_owner: acme }
    condition: 'claims.runner_environment == "github-hosted"'
    namespaces: [ci]
    scopes: [argo:read]
`;
}

beforeAll(async () => {
  github = await startLoopbackIdp();
  h = await attackHarness(policyConfig());
});
afterAll(() => github.close());

const claims = (o: Record<string, unknown> = {}) =>
  githubClaims(github, { event_name: 'push', repository_visibility: 'private', runner_environment: 'github-hosted', ...o });

/** Signs the payload as raw JSON text, so `__proto__` is an own key as an IdP would send it. */
async function signRaw(payload: Record<string, unknown>, extra: Record<string, unknown>): Promise<string> {
  const json = JSON.stringify(payload);
  const more = Object.entries(extra).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
  return signAsIdp(github, { typ: 'JWT' }, more ? `${json.slice(0, -1)},${more}}` : json);
}

describe('CEL conditions with hostile claim names', () => {
  it('issues to an honest token (the baseline the other cases differ from)', async () => {
    expect((await h.exchange({ subject_token: await github.sign(claims()), audience: 'argo-prod' })).status).toBe(200);
  });

  it.each(HOSTILE_CLAIM_NAMES)('a deny policy still refuses a pull_request token that carries a claim named %s', async (name) => {
    const token = await signRaw(claims({ event_name: 'pull_request' }), { [name]: 'x' });
    const body = await expectRefused(h, await h.exchange({ subject_token: token, audience: 'argo-prod' }), { error: 'invalid_request', check: 'policy' });
    expect(h.audits().at(-1)).toMatchObject({ error: 'ERR_POLICY_DENIED', policy: 'no-pull-requests' });
    expect(body.error_description).not.toContain('pull_request');
  });

  it.each(HOSTILE_CLAIM_NAMES)('an allow condition is still evaluated (and holds) for a token carrying a claim named %s', async (name) => {
    const token = await signRaw(claims(), { [name]: 'x' });
    expect((await h.exchange({ subject_token: token, audience: 'argo-prod' })).status).toBe(200);
  });

  it('a deny condition that cannot be evaluated (a claim it reads is absent) refuses, audited with the reason', async () => {
    const token = await github.sign(claims({ event_name: undefined }));
    await expectRefused(h, await h.exchange({ subject_token: token, audience: 'argo-prod' }), { error: 'invalid_request', check: 'policy' });
    const audit = h.audits().at(-1)!;
    expect(audit).toMatchObject({ error: 'ERR_POLICY_DENIED', policy: 'no-pull-requests' });
    expect(audit.reason).toMatch(/condition could not be evaluated/);
  });

  it('an allow condition that cannot be evaluated does not match, audited with the reason', async () => {
    const token = await github.sign(claims({ runner_environment: undefined }));
    await expectRefused(h, await h.exchange({ subject_token: token, audience: 'argo-prod' }), { error: 'invalid_request', check: 'policy' });
    const audit = h.audits().at(-1)!;
    expect(audit).toMatchObject({ error: 'ERR_POLICY_NO_MATCH' });
    expect(audit.reason).toMatch(/condition could not be evaluated/);
  });

  it('fuzz: whatever extra claims a genuine pull_request token carries, the deny policy refuses it', async () => {
    const name = fc.oneof(fc.constantFrom(...HOSTILE_CLAIM_NAMES), fc.string({ maxLength: 12 }));
    const value = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom(...HOSTILE_CLAIM_NAMES, 'k'), fc.string({ maxLength: 4 }), { maxKeys: 3 }));
    await fc.assert(fc.asyncProperty(fc.dictionary(name, value, { maxKeys: 4 }), async (extra) => {
      const reserved = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'event_name', 'repository_visibility', 'repository_owner', 'runner_environment', 'jti']);
      const token = await signRaw(claims({ event_name: 'pull_request' }), Object.fromEntries(Object.entries(extra).filter(([k]) => !reserved.has(k))));
      const res = await h.exchange({ subject_token: token, audience: 'argo-prod' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { access_token?: string }).access_token).toBeUndefined();
      expect(h.audits().at(-1)).toMatchObject({ error: 'ERR_POLICY_DENIED', policy: 'no-pull-requests' });
    }), { numRuns: 60 });
  });
});

describe('deny policies and absent claims', () => {
  it('a deny policy with `not` refuses a token that leaves the claim out', async () => {
    const token = await github.sign(claims({ repository_visibility: undefined }));
    await expectRefused(h, await h.exchange({ subject_token: token, audience: 'argo-prod' }), { error: 'invalid_request', check: 'policy' });
    const audit = h.audits().at(-1)!;
    expect(audit).toMatchObject({ error: 'ERR_POLICY_DENIED', policy: 'private-only' });
    expect(audit.reason).toMatch(/absent/);
  });

  it('a deny policy with `not` refuses a public repository and lets a private one through', async () => {
    await expectRefused(h, await h.exchange({ subject_token: await github.sign(claims({ repository_visibility: 'public' })), audience: 'argo-prod' }), { check: 'policy' });
    expect((await h.exchange({ subject_token: await github.sign(claims({ repository_visibility: 'private' })), audience: 'argo-prod' })).status).toBe(200);
  });
});
