/**
 * Each preset exchanges its provider's fixture (test/fixtures/claims), signed by a loopback IdP
 * whose issuer has the provider's path shape, and refuses the provider's known traps with a named
 * code. The real issuers are https; their shapes are tested as pure functions in
 * presets-shapes.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
const TENANT = '8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b';
const API_CLIENT_ID = '3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f';
let github: LoopbackIdp;
let gitlab: LoopbackIdp;
let keycloak: LoopbackIdp;
let entraV1: LoopbackIdp;
let entraV2: LoopbackIdp;
let h: Harness;

function config(): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
  - { name: gitlab, issuer: ${gitlab.issuer}, audiences: [argo-sts], preset: gitlab }
  - { name: keycloak, issuer: ${keycloak.issuer}, audiences: [argo-sts], preset: keycloak }
  - { name: entra-v1, issuer: ${entraV1.issuer}, jwks_uri: ${entraV1.jwksUri}, audiences: ["api://argo-sts"], preset: entra, tenant_id: ${TENANT} }
  - { name: entra-v2, issuer: ${entraV2.issuer}, audiences: ["${API_CLIENT_ID}"], preset: entra }
targets:
  - { name: argo, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: github-main, idp: github, target: argo, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:submit] }
  - { id: github-cel, idp: github, target: argo, subject: "repo:acme/app:ref:refs/heads/cel", condition: 'claims.run_attempt == "1"', namespaces: [cel], scopes: [argo:read] }
  - id: github-immutable
    idp: github
    target: argo
    subject_pattern: "repo:acme@7654321/app@690123456:*"
    namespaces: [ci]
    scopes: [argo:read]
  - id: github-env
    idp: github
    target: argo
    subject: "repo:acme/app:environment:prod%3Aeu"
    claims: { environment: "prod:eu" }
    namespaces: [prod]
    scopes: [argo:submit]
  - id: gitlab-protected
    idp: gitlab
    target: argo
    subject_pattern: "project_path:platform/pipelines:*"
    claims: { ref_protected: true, environment_protected: "true" }
    namespaces: [platform]
    scopes: [argo:submit]
  - id: gitlab-config-origin
    idp: gitlab
    target: argo
    claims: { project_path: platform/other, ci_config_ref_uri: { pattern: "gitlab.example.com/platform/*" } }
    namespaces: [other]
    scopes: [argo:read]
  - { id: keycloak-people, idp: keycloak, target: argo, claims: { groups: platform-engineers }, namespaces: [dev], scopes: [argo:manage] }
  - { id: keycloak-nested, idp: keycloak, target: argo, claims: { groups: /org/sre }, namespaces: [sre], scopes: [argo:read] }
  - { id: entra-user, idp: entra-v1, target: argo, claims: { scp: Workflows.Submit, tid: ${TENANT} }, namespaces: [aks], scopes: [argo:submit] }
  - { id: entra-groups, idp: entra-v2, target: argo, claims: { groups: c5e1f0a2-3b4c-4d5e-8f9a-0b1c2d3e4f5a }, namespaces: [aks], scopes: [argo:submit] }
  - { id: entra-app, idp: entra-v2, target: argo, claims: { roles: Workflows.Read, idtyp: app }, namespaces: [aks], scopes: [argo:read] }
`;
}

const githubClaims = (o: Record<string, unknown> = {}) => fixtureClaims('github-actions', NOW, { iss: github.issuer, ...o });
const gitlabClaims = (o: Record<string, unknown> = {}) => fixtureClaims('gitlab-ci', NOW, { iss: gitlab.issuer, ...o });
const keycloakClaims = (o: Record<string, unknown> = {}) => fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer, ...o });
const entraV1Claims = (o: Record<string, unknown> = {}) => fixtureClaims('entra-v1-access-token', NOW, { iss: entraV1.issuer, ...o });
const entraV2Claims = (o: Record<string, unknown> = {}) => fixtureClaims('entra-v2-access-token', NOW, { iss: entraV2.issuer, ...o });

async function exchange(idp: LoopbackIdp, claims: Record<string, unknown>, params: Record<string, string> = {}) {
  const res = await h.exchange({ subject_token: await idp.sign(claims), audience: 'argo', ...params });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function expectRefused(idp: LoopbackIdp, claims: Record<string, unknown>, check: string, code: string, params: Record<string, string> = {}) {
  const { status, body } = await exchange(idp, claims, params);
  expect({ status, error: body.error, check: body.check }).toEqual({ status: 400, error: 'invalid_request', check });
  expect(body.access_token).toBeUndefined();
  expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: code, check });
  return body;
}

beforeAll(async () => {
  github = await startLoopbackIdp();
  gitlab = await startLoopbackIdp({ path: '/gitlab' });
  keycloak = await startLoopbackIdp({ path: '/auth/realms/platform' });
  entraV1 = await startLoopbackIdp({ path: `/${TENANT}/` });
  entraV2 = await startLoopbackIdp({ path: `/${TENANT}/v2.0` });
  h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv() });
});
afterAll(async () => {
  await Promise.all([github, gitlab, keycloak, entraV1, entraV2].map((idp) => idp.close()));
});

describe('github-actions', () => {
  it('exchanges the GitHub Actions fixture', async () => {
    const { status, body } = await exchange(github, githubClaims());
    expect(status).toBe(200);
    expect(body).toMatchObject({ scope: 'argo:submit', namespace: 'ci' });
  });

  it('exchanges the immutable repo:OWNER@OWNER_ID/REPO@REPO_ID subject when its ids match the id claims', async () => {
    const { status, body } = await exchange(github, githubClaims({ sub: 'repo:acme@7654321/app@690123456:ref:refs/heads/main' }));
    expect(status).toBe(200);
    expect(body.scope).toBe('argo:read');
  });

  it('refuses an immutable subject whose repository id contradicts repository_id (ERR_PRESET_CLAIM_INVALID)', async () => {
    await expectRefused(github, githubClaims({ sub: 'repo:acme@7654321/app@690123456:ref:refs/heads/main', repository_id: '690999999' }), 'format', 'ERR_PRESET_CLAIM_INVALID');
  });

  it('matches an environment subject with ":" encoded as %3A, and the decoded environment claim', async () => {
    const { status, body } = await exchange(github, githubClaims({ sub: 'repo:acme/app:environment:prod%3Aeu', environment: 'prod:eu' }));
    expect(status).toBe(200);
    expect(body.namespace).toBe('prod');
  });

  it('refuses an environment subject that contradicts the environment claim', async () => {
    await expectRefused(github, githubClaims({ sub: 'repo:acme/app:environment:prod%3Aeu', environment: 'staging' }), 'format', 'ERR_PRESET_CLAIM_INVALID');
  });

  it('turns a numeric claim into the string GitHub sends, so a CEL condition sees one type', async () => {
    const { status, body } = await exchange(github, githubClaims({ sub: 'repo:acme/app:ref:refs/heads/cel', run_attempt: 1 }));
    expect(status).toBe(200);
    expect(body.namespace).toBe('cel');
  });
});

describe('gitlab', () => {
  it('exchanges the GitLab CI fixture, matching config true against the string "true"', async () => {
    const { status, body } = await exchange(gitlab, gitlabClaims());
    expect(status).toBe(200);
    expect(body.namespace).toBe('platform');
  });

  it('does not match a protected-ref policy for a token whose ref_protected is "false"', async () => {
    await expectRefused(gitlab, gitlabClaims({ ref_protected: 'false' }), 'policy', 'ERR_POLICY_NO_MATCH');
  });

  it('refuses ref_protected that is neither "true" nor "false"', async () => {
    await expectRefused(gitlab, gitlabClaims({ ref_protected: 'yes' }), 'format', 'ERR_PRESET_CLAIM_INVALID');
  });

  it('treats a null ci_config_ref_uri as absent: a policy binding it does not match', async () => {
    const other = { project_path: 'platform/other', sub: 'project_path:platform/other:ref_type:branch:ref:main' };
    expect((await exchange(gitlab, gitlabClaims(other))).status).toBe(200);
    await expectRefused(gitlab, gitlabClaims({ ...other, ci_config_ref_uri: null }), 'policy', 'ERR_POLICY_NO_MATCH');
  });
});

describe('keycloak', () => {
  it('exchanges the Keycloak fixture at a pre-17 /auth/realms/<realm> issuer', async () => {
    const { status, body } = await exchange(keycloak, keycloakClaims());
    expect(status).toBe(200);
    expect(body.namespace).toBe('dev');
  });

  it('matches a top-level full-path group /platform-engineers against the bare name', async () => {
    expect((await exchange(keycloak, keycloakClaims({ groups: ['/platform-engineers'] }))).status).toBe(200);
  });

  it('matches a nested group only by its full path, never by its bare name', async () => {
    const nested = await exchange(keycloak, keycloakClaims({ groups: ['/org/sre'] }));
    expect(nested.body.namespace).toBe('sre');
    await expectRefused(keycloak, keycloakClaims({ groups: ['/other/platform-engineers'] }), 'policy', 'ERR_POLICY_NO_MATCH');
  });

  it('refuses aud "account" only, saying the realm has no audience mapper (ERR_AUDIENCE_NO_MAPPER)', async () => {
    const body = await expectRefused(keycloak, keycloakClaims({ aud: 'account' }), 'audience', 'ERR_AUDIENCE_NO_MAPPER');
    expect(body.error_description).toContain('no audience mapper');
  });

  it('refuses a token without aud with the same reason', async () => {
    await expectRefused(keycloak, keycloakClaims({ aud: undefined }), 'audience', 'ERR_AUDIENCE_NO_MAPPER');
  });

  it('accepts an ID token (typ ID) and refuses a refresh token (typ Refresh)', async () => {
    expect((await exchange(keycloak, keycloakClaims({ typ: 'ID' }))).status).toBe(200);
    await expectRefused(keycloak, keycloakClaims({ typ: 'Refresh' }), 'format', 'ERR_TOKEN_TYPE_UNSUITABLE');
  });
});

describe('entra', () => {
  it('exchanges the v1 fixture at the trailing-slash issuer, aud an api:// URI', async () => {
    const { status, body } = await exchange(entraV1, entraV1Claims());
    expect(status).toBe(200);
    expect(body.namespace).toBe('aks');
  });

  it('matches claims: { scp: Workflows.Submit } on a token carrying several space-separated scopes', async () => {
    const { status, body } = await exchange(entraV1, entraV1Claims({ scp: 'Workflows.Read Workflows.Submit User.Read' }));
    expect(status).toBe(200);
    expect(body.namespace).toBe('aks');
    // A scope that merely starts the same is not the scope.
    await expectRefused(entraV1, entraV1Claims({ scp: 'Workflows.Read Workflows.SubmitAll' }), 'policy', 'ERR_POLICY_NO_MATCH');
  });

  it('exchanges the v2 fixture, aud the client-id GUID, matching on groups', async () => {
    expect((await exchange(entraV2, entraV2Claims())).status).toBe(200);
  });

  it('exchanges an app-only v2 token (idtyp app, roles, no scp)', async () => {
    const { status, body } = await exchange(entraV2, entraV2Claims({ scp: undefined, groups: undefined, idtyp: 'app', roles: ['Workflows.Read'] }));
    expect(status).toBe(200);
    expect(body.scope).toBe('argo:read');
  });

  it('refuses a token from another tenant (ERR_TENANT_MISMATCH), before audience and policy; the tenant comes from the issuer when tenant_id is unset', async () => {
    await expectRefused(entraV2, entraV2Claims({ tid: '00000000-0000-0000-0000-000000000000', aud: 'other' }), 'issuer', 'ERR_TENANT_MISMATCH');
  });

  it('refuses a v1 token presented at the v2 issuer', async () => {
    await expectRefused(entraV2, entraV2Claims({ ver: '1.0' }), 'issuer', 'ERR_TENANT_MISMATCH');
  });

  it('refuses a token with neither scp nor roles (an ID token)', async () => {
    await expectRefused(entraV2, entraV2Claims({ scp: undefined }), 'format', 'ERR_TOKEN_TYPE_UNSUITABLE');
  });

  it('refuses a groups overage for a group-based policy with its reason, instead of matching on no groups', async () => {
    const overage = entraV2Claims({ groups: undefined, _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/x/getMemberObjects' } } });
    const body = await expectRefused(entraV2, overage, 'policy', 'ERR_CLAIM_OVERAGE');
    expect(body.error_description).toContain('groups overage');
  });
});
