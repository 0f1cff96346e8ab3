/** RFC 8707 `resource` on POST /token: it names a target as `audience` does. */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let keycloak: LoopbackIdp;
let h: Harness;

beforeAll(async () => {
  keycloak = await startLoopbackIdp({ path: '/realms/platform' });
  h = await buildHarness(`
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: keycloak, issuer: ${keycloak.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: prod }
  - { name: argo-dev, kind: kubernetes-oidc, audience: dev }
policies:
  - { id: people, idp: keycloak, target: [argo-prod, argo-dev], claims: { groups: platform-engineers }, namespaces: [dev], scopes: [argo:read] }
`, { now: NOW, env: await signingKeysEnv() });
});
afterAll(() => keycloak.close());

const token = () => keycloak.sign(fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer }));

describe('the resource parameter (RFC 8707)', () => {
  it('selects the target by resource alone, and with an equal audience', async () => {
    const alone = await h.exchange({ subject_token: await token(), resource: 'argo-dev' });
    expect(alone.status).toBe(200);
    expect(decodeJwt(((await alone.json()) as { access_token: string }).access_token).aud).toBe('dev');
    const both = await h.exchange({ subject_token: await token(), resource: 'argo-prod', audience: 'argo-prod' });
    expect(decodeJwt(((await both.json()) as { access_token: string }).access_token).aud).toBe('prod');
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', target: 'argo-prod' });
  });

  it('answers invalid_target for an unknown resource and invalid_request for a conflicting or repeated one', async () => {
    const unknown = await h.exchange({ subject_token: await token(), resource: 'https://elsewhere.example' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: 'invalid_target', check: 'target' });
    const conflicting = await h.exchange({ subject_token: await token(), resource: 'argo-dev', audience: 'argo-prod' });
    expect(await conflicting.json()).toMatchObject({ error: 'invalid_request', check: 'request' });
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', subject_token: await token() });
    body.append('resource', 'argo-dev');
    body.append('resource', 'argo-prod');
    const repeated = await h.app.request('/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    expect(repeated.status).toBe(400);
    expect(await repeated.json()).toMatchObject({ error: 'invalid_request' });
  });
});
