/**
 * POST /token and POST /diagnose speak one catalogue: for the same request, the `check` /token
 * refuses with is the check /diagnose fails (or `request`, when /diagnose lists the parameter
 * under request_problems), with the same message; every check /token can answer is documented.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { GITHUB_KEYCLOAK_POLICIES_YAML, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { TROUBLESHOOTING_DOC } from '../../scripts/generate-troubleshooting-doc.ts';
import { CHECK_CATALOGUE, WIRE_CHECK_CATALOGUE } from '../../shared/diagnose/catalogue.ts';

const NOW = 1_790_000_000;
let github: LoopbackIdp;
let h: Harness;

const githubClaims = (overrides: Record<string, unknown> = {}) => fixtureClaims('github-actions', NOW, { iss: github.issuer, ...overrides });

beforeAll(async () => {
  github = await startLoopbackIdp();
  h = await buildHarness(`
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
  - { name: keycloak, issuer: https://kc.example.com/realms/platform, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes-dev }
${GITHUB_KEYCLOAK_POLICIES_YAML}`, { now: NOW, env: await signingKeysEnv() });
});
afterAll(() => github.close());

type DiagnoseBody = { verdict: string; request_problems?: { parameter: string }[]; checks: { check: string; status: string; message: string }[] };

async function both(params: Record<string, string>): Promise<{ token: { check: string; error_description: string; status: number }; diagnosis: DiagnoseBody }> {
  const tokenRes = await h.exchange(params);
  const diagnoseRes = await h.diagnose({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', ...params });
  expect(diagnoseRes.status).toBe(200);
  const token = (await tokenRes.json()) as { check: string; error_description: string };
  return { token: { ...token, status: tokenRes.status }, diagnosis: (await diagnoseRes.json()) as DiagnoseBody };
}

describe('/token refuses with the check /diagnose fails, and the same message', () => {
  const cases: [string, () => Promise<Record<string, string>>, string][] = [
    ['a namespace omitted while the answering policy allows several', async () => ({ subject_token: await github.sign(githubClaims({ sub: 'repo:acme/app:ref:refs/heads/dev' })), audience: 'argo-prod' }), 'namespace'],
    ['an empty subject_token', async () => ({ subject_token: '', audience: 'argo-prod' }), 'format'],
    ['a subject token over 16 KiB', async () => ({ subject_token: 'a'.repeat(16 * 1024 + 1), audience: 'argo-prod' }), 'format'],
    ['a pasted "Bearer eyJ…" token', async () => ({ subject_token: `Bearer ${await github.sign(githubClaims())}`, audience: 'argo-prod' }), 'format'],
    ['an audience omitted with several targets', async () => ({ subject_token: await github.sign(githubClaims()) }), 'target'],
  ];
  for (const [name, params, check] of cases) {
    it(`${check}: ${name}`, async () => {
      const { token, diagnosis } = await both(await params());
      expect(token.status).toBe(400);
      expect(token.check).toBe(check);
      const failed = diagnosis.checks.find((c) => c.check === check);
      expect(failed?.status).toBe('fail');
      expect(diagnosis.verdict).toBe('deny');
      expect(token.error_description.startsWith(failed!.message), `${token.error_description} / ${failed!.message}`).toBe(true);
    });
  }

  it('request: a parameter no check covers is `request` on /token and a request problem on /diagnose', async () => {
    const { token, diagnosis } = await both({ subject_token: await github.sign(githubClaims()), audience: 'argo-prod', requested_ttl: '10m' });
    expect(token.check).toBe('request');
    expect(diagnosis.request_problems?.map((p) => p.parameter)).toEqual(['requested_ttl']);
  });
});

describe('docs/troubleshooting.md documents every check /token answers with', () => {
  it('has a section for request, rate_limit, unavailable and internal beside the eleven checks', () => {
    expect(WIRE_CHECK_CATALOGUE.map((e) => e.id)).toEqual(['request', 'rate_limit', 'unavailable', 'internal']);
    const doc = readFileSync(TROUBLESHOOTING_DOC, 'utf8');
    for (const entry of [...CHECK_CATALOGUE, ...WIRE_CHECK_CATALOGUE]) expect(doc).toContain(`## ${entry.id}\n`);
  });
});
