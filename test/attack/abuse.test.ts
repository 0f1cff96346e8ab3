/**
 * Abuse resistance: rate limits per subject and per idp (429 with Retry-After, audited), single-use
 * subject tokens, and a storm of random key ids that must not turn into a storm of JWKS fetches.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRateLimitStore } from '../../shared/exchange/rate-limit.ts';
import { MemoryReplayCache } from '../../shared/exchange/replay-cache.ts';
import type { Harness } from '../support/app-harness.ts';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { attackConfig, attackHarness, expectRefused, githubClaims, NOW } from './support.ts';

let github: LoopbackIdp;
let agents: LoopbackIdp;

beforeAll(async () => {
  github = await startLoopbackIdp();
  agents = await startLoopbackIdp();
});
afterAll(async () => {
  await Promise.all([github.close(), agents.close()]);
});

const claims = (o: Record<string, unknown> = {}) => githubClaims(github, o);

describe('rate limits', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await attackHarness(attackConfig(github, agents, `
    rate_limit:
      per_subject: { requests: 2, per: 1m }
      per_idp: { requests: 3, per: 1m }`));
  });

  it('answers 429 temporarily_unavailable with Retry-After once a subject spends its bucket, and audits it', async () => {
    const main = await github.sign(claims());
    expect((await h.exchange({ subject_token: main, audience: 'argo-prod' })).status).toBe(200);
    expect((await h.exchange({ subject_token: main, audience: 'argo-prod' })).status).toBe(200);
    const res = await h.exchange({ subject_token: main, audience: 'argo-prod' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    const body = await expectRefused(h, res, { error: 'temporarily_unavailable', check: 'rate_limit' });
    expect(body.error_description).not.toContain(main);
    expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: 'ERR_RATE_LIMITED', check: 'rate_limit', sub: 'repo:acme/app:ref:refs/heads/main' });
  });

  it('a throttled subject does not spend the idp\'s budget; another subject still gets the last idp token', async () => {
    const other = await github.sign(claims({ sub: 'repo:acme/other:ref:refs/heads/main' }));
    expect((await h.exchange({ subject_token: other, audience: 'argo-prod', namespace: 'staging' })).status).toBe(200);
    const res = await h.exchange({ subject_token: other, audience: 'argo-prod', namespace: 'staging' });
    expect(res.status).toBe(429);
  });

  it('refills with time: after 30 s the subject has one request again', async () => {
    h.setNow(NOW + 30);
    expect((await h.exchange({ subject_token: await github.sign(claims()), audience: 'argo-prod' })).status).toBe(200);
    h.setNow(NOW);
  });

  it('counts only verified identities: forged tokens naming a subject do not spend its budget', async () => {
    const fresh = await attackHarness(attackConfig(github, agents, `
    rate_limit: { per_subject: { requests: 1, per: 1h } }`));
    for (let i = 0; i < 5; i++) {
      await expectRefused(fresh, await fresh.exchange({ subject_token: await github.sign(claims(), { foreignKey: true }), audience: 'argo-prod' }), { check: 'signature' });
    }
    expect((await fresh.exchange({ subject_token: await github.sign(claims()), audience: 'argo-prod' })).status).toBe(200);
  });

  it('rate-limits POST /diagnose for a verified identity the same way, audited as a diagnose event', async () => {
    const fresh = await attackHarness(attackConfig(github, agents, `
    rate_limit: { per_subject: { requests: 1, per: 1h } }`));
    const diagnose = async () => fresh.diagnose({ subject_token: await github.sign(claims()), audience: 'argo-prod' });
    expect((await diagnose()).status).toBe(200);
    const res = await diagnose();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3600');
    expect(((await res.json()) as { check: string }).check).toBe('rate_limit');
    expect(fresh.audits().at(-1)).toMatchObject({ endpoint: 'diagnose', error: 'ERR_RATE_LIMITED', check: 'rate_limit' });
  });

  it('genuine tokens of strangers (wrong audience, or an identity no policy serves) do not spend the idp budget, on /token or /diagnose', async () => {
    const fresh = await attackHarness(attackConfig(github, agents, `
    rate_limit: { per_idp: { requests: 2, per: 1h } }`));
    const stranger = { sub: 'repo:evil/x:ref:refs/heads/main', repository: 'evil/x', repository_owner: 'evil', repository_owner_id: '666' };
    for (let i = 0; i < 4; i++) {
      await expectRefused(fresh, await fresh.exchange({ subject_token: await github.sign(claims(stranger)), audience: 'argo-prod' }), { check: 'policy' });
      await expectRefused(fresh, await fresh.exchange({ subject_token: await github.sign(claims({ aud: 'https://github.com/evil' })), audience: 'argo-prod' }), { check: 'audience' });
      expect((await fresh.diagnose({ subject_token: await github.sign(claims(stranger)), audience: 'argo-prod' })).status).toBe(200);
      expect((await fresh.diagnose({ subject_token: await github.sign(claims({ aud: 'https://github.com/evil' })), audience: 'argo-prod' })).status).toBe(200);
    }
    expect((await fresh.exchange({ subject_token: await github.sign(claims()), audience: 'argo-prod' })).status).toBe(200);
    expect((await fresh.exchange({ subject_token: await github.sign(claims()), audience: 'argo-prod' })).status).toBe(200);
    expect((await fresh.exchange({ subject_token: await github.sign(claims()), audience: 'argo-prod' })).status).toBe(429);
  });

  it('a bucket never goes negative and refills to at most its burst (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 120_000 }), { minLength: 1, maxLength: 40 }), async (gaps) => {
      const store = new MemoryRateLimitStore();
      const rule = { requests: 3, per: 60, burst: 5 };
      let now = 0;
      let allowed = 0;
      for (const gap of gaps) {
        now += gap;
        if ((await store.take([{ key: 'k', rule }], now)).allowed) allowed++;
      }
      // At most the burst plus what the elapsed time refilled.
      expect(allowed).toBeLessThanOrEqual(5 + Math.floor((now / 60_000) * 3));
    }), { numRuns: 100 });
  });
});

describe('single-use subject tokens', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await attackHarness(attackConfig(github, agents, `
    single_use: true`));
  });

  it('exchanges a token once and refuses its replay (ERR_TOKEN_REPLAYED)', async () => {
    const token = await github.sign(claims({ jti: 'run-1' }));
    expect((await h.exchange({ subject_token: token, audience: 'argo-prod' })).status).toBe(200);
    const body = await expectRefused(h, await h.exchange({ subject_token: token, audience: 'argo-prod' }), { status: 400, error: 'invalid_request' });
    expect(h.audits().at(-1)!.error).toBe('ERR_TOKEN_REPLAYED');
    expect(body.error_description).toMatch(/already exchanged/);
  });

  it('refuses concurrent replays: of ten simultaneous exchanges of one token, exactly one succeeds', async () => {
    const token = await github.sign(claims({ jti: 'run-2' }));
    const statuses = await Promise.all(Array.from({ length: 10 }, () => h.exchange({ subject_token: token, audience: 'argo-prod' }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(9);
  });

  it('refuses a token without jti when its idp is single-use', async () => {
    await expectRefused(h, await h.exchange({ subject_token: await github.sign(claims({ jti: undefined })), audience: 'argo-prod' }), { status: 400, check: 'format' });
  });

  it('does not spend a token the policy refuses', async () => {
    const token = await github.sign(claims({ jti: 'run-3' }));
    await expectRefused(h, await h.exchange({ subject_token: token, audience: 'argo-prod', scope: 'argo:manage' }), { check: 'scope' });
    expect((await h.exchange({ subject_token: token, audience: 'argo-prod' })).status).toBe(200);
  });

  it('does not spend the subject token when the actor token is already spent', async () => {
    const both = await attackHarness(attackConfig(github, agents, `
    single_use: true`).replace(`audiences: [argo-sts] }
targets`, `audiences: [argo-sts], single_use: true }
targets`));
    const actor = await agents.sign({ sub: 'agent-7', aud: 'argo-sts', iss: agents.issuer, iat: NOW, exp: NOW + 300, jti: 'agent-run-1' });
    expect((await both.exchange({ subject_token: await github.sign(claims({ jti: 'run-a' })), audience: 'argo-prod', actor_token: actor, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' })).status).toBe(200);
    const subject = await github.sign(claims({ jti: 'run-b' }));
    await expectRefused(both, await both.exchange({ subject_token: subject, audience: 'argo-prod', actor_token: actor, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' }), { status: 400 });
    expect(both.audits().at(-1)!.error).toBe('ERR_TOKEN_REPLAYED');
    expect((await both.exchange({ subject_token: subject, audience: 'argo-prod' })).status).toBe(200);
  });

  it('does not spend the subject token when the actor token is the subject token itself', async () => {
    const self = await attackHarness(attackConfig(github, agents, `
    single_use: true`).replace('actors: [{ idp: agents, subject: agent-7, scopes: [argo:read] }]', 'actors: [{ idp: github, subject: "repo:acme/app:ref:refs/heads/main" }]'));
    const token = await github.sign(claims({ jti: 'run-self' }));
    await expectRefused(self, await self.exchange({ subject_token: token, audience: 'argo-prod', actor_token: token, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' }), { status: 400 });
    expect((await self.exchange({ subject_token: token, audience: 'argo-prod' })).status).toBe(200);
  });

  it('does not spend the subject token when the target answers 503 (the honest retry reaches the target again)', async () => {
    const { createServer } = await import('node:http');
    let calls = 0;
    const down = createServer((_req, res) => {
      calls++;
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"kind":"Status","status":"Failure","code":503}');
    });
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const port = (down.address() as { port: number }).port;
    const legacy = await attackHarness(attackConfig(github, agents, `
    single_use: true`).replace('targets:\n', `targets:
  - { name: argo-legacy, kind: kubernetes-tokenrequest, api_server: "http://127.0.0.1:${port}", credentials: env:SIGNING_KEYS }
`).replace('policies:\n', `policies:
  - { id: legacy, idp: github, target: argo-legacy, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:read], service_account: argo-ci }
`));
    const token = await github.sign(claims({ jti: 'run-503' }));
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await legacy.exchange({ subject_token: token, audience: 'argo-legacy' });
      expect(res.status).toBe(503);
    }
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(legacy.audits().at(-1)!.error).not.toBe('ERR_TOKEN_REPLAYED');
    await new Promise<void>((resolve) => down.close(() => resolve()));
  });

  it('forgets a jti once the token has expired', async () => {
    const cache = new MemoryReplayCache();
    expect(await cache.firstUse('k', 100, 50)).toBe(true);
    expect(await cache.firstUse('k', 100, 99)).toBe(false);
    expect(await cache.firstUse('k', 200, 100)).toBe(true);
  });

  it('a released reservation can be reserved again; an unreleased one cannot', async () => {
    const cache = new MemoryReplayCache();
    expect(await cache.firstUse('k', 100, 50)).toBe(true);
    await cache.release('k');
    expect(await cache.firstUse('k', 100, 50)).toBe(true);
    expect(await cache.firstUse('k', 100, 50)).toBe(false);
  });

});

describe('key id storms', () => {
  it('a storm of random kids costs the IdP at most one JWKS fetch per 30 s cooldown', async () => {
    const idp = await startLoopbackIdp();
    const h = await attackHarness(attackConfig(idp, agents));
    expect((await h.exchange({ subject_token: await idp.sign(githubClaims(idp)), audience: 'argo-prod' })).status).toBe(200);
    const base = idp.requests.jwks;
    h.setNow(NOW + 31); // past the cooldown of the first fetch
    const kids = fc.sample(fc.string({ minLength: 1, maxLength: 40 }), 40);
    const results = await Promise.all(kids.map(async (kid) => (await h.exchange({ subject_token: await idp.sign(githubClaims(idp), { kid, foreignKey: true }), audience: 'argo-prod' })).status));
    expect(results.every((s) => s === 400)).toBe(true);
    expect(idp.requests.jwks - base).toBe(1);
    h.setNow(NOW + 45); // still inside the cooldown that storm started
    await h.exchange({ subject_token: await idp.sign(githubClaims(idp), { kid: 'one-more', foreignKey: true }), audience: 'argo-prod' });
    expect(idp.requests.jwks - base).toBe(1);
    await idp.close();
  });

  it('twenty concurrent first exchanges share one discovery and one JWKS fetch on Node (single flight)', async () => {
    const idp = await startLoopbackIdp();
    const h = await attackHarness(attackConfig(idp, agents));
    const token = await idp.sign(githubClaims(idp));
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await h.exchange({ subject_token: token, audience: 'argo-prod' })).status));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(idp.requests).toEqual({ discovery: 1, jwks: 1 });
    await idp.close();
  });

  it('after a failed fetch with nothing cached, a dead IdP sees at most one fetch per 30 s', async () => {
    const idp = await startLoopbackIdp();
    idp.setDown(true);
    const h = await attackHarness(attackConfig(idp, agents));
    for (let i = 0; i < 5; i++) {
      const res = await h.exchange({ subject_token: await idp.sign(githubClaims(idp)), audience: 'argo-prod' });
      expect(res.status).toBe(503);
    }
    expect(idp.requests.jwks).toBe(1);
    idp.setDown(false);
    h.setNow(NOW + 31);
    expect((await h.exchange({ subject_token: await idp.sign(githubClaims(idp)), audience: 'argo-prod' })).status).toBe(200);
    expect(idp.requests.jwks).toBe(2);
    await idp.close();
  });
});

describe('an IdP outage', () => {
  it('serves the last good keys for jwks_max_stale, then answers 503 rather than trust them forever', async () => {
    const idp = await startLoopbackIdp();
    const h = await attackHarness(attackConfig(idp, agents, `
    jwks_max_stale: 2h`));
    const exchangeAt = async (seconds: number) => {
      h.setNow(seconds);
      return (await h.exchange({ subject_token: await idp.sign(githubClaims(idp, { iat: seconds, nbf: seconds, exp: seconds + 300 })), audience: 'argo-prod' })).status;
    };
    expect(await exchangeAt(NOW)).toBe(200);
    idp.setDown(true);
    expect(await exchangeAt(NOW + 3600)).toBe(200); // refresh due, IdP down: stale keys serve
    expect(await exchangeAt(NOW + 2 * 3600 - 60)).toBe(200);
    expect(await exchangeAt(NOW + 2 * 3600 + 60)).toBe(503); // past the stale window
    idp.setDown(false);
    expect(await exchangeAt(NOW + 2 * 3600 + 120)).toBe(200); // backoff over: refetched
    await idp.close();
  });
});
