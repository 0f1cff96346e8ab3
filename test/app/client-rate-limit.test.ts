/** The opt-in per-client-address limit: taken before any token work, on /token and /diagnose alike. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { CI_MAIN_POLICY_YAML, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let github: LoopbackIdp;

function config(rateLimit: string): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
${CI_MAIN_POLICY_YAML}
${rateLimit}
`;
}

async function harness(rateLimit: string): Promise<Harness> {
  return buildHarness(config(rateLimit), { now: NOW, env: await signingKeysEnv() });
}

beforeAll(async () => {
  github = await startLoopbackIdp();
});
afterAll(async () => {
  await github.close();
});

describe('rate_limit.per_client_ip', () => {
  it('answers 429 with Retry-After once a client has spent its bucket, even on tokens that never verify, and audits it', async () => {
    const h = await harness('rate_limit: { per_client_ip: { requests: 2, per: 60s } }');
    for (let i = 0; i < 2; i++) expect((await h.exchange({ subject_token: 'not-a-jwt' })).status).toBe(400);
    const limited = await h.exchange({ subject_token: await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer })) });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(await limited.json()).toMatchObject({ error: 'temporarily_unavailable', check: 'rate_limit' });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: 'ERR_RATE_LIMITED', check: 'rate_limit', client_ip: '127.0.0.1' });
  });

  it('shares the bucket between /token and /diagnose, and refills it over time', async () => {
    const h = await harness('rate_limit: { per_client_ip: { requests: 1, per: 10s } }');
    expect((await h.diagnose({ subject_token: 'not-a-jwt' })).status).toBe(200);
    expect((await h.exchange({ subject_token: 'not-a-jwt' })).status).toBe(429);
    expect((await h.diagnose({ subject_token: 'not-a-jwt' })).status).toBe(429);
    h.setNow(NOW + 10);
    expect((await h.exchange({ subject_token: 'not-a-jwt' })).status).toBe(400);
  });

  it('limits nothing when the config does not ask for it', async () => {
    const h = await harness('');
    for (let i = 0; i < 20; i++) expect((await h.exchange({ subject_token: 'not-a-jwt' })).status).toBe(400);
  });
});
