/**
 * The workload presets, `kubernetes` (ServiceAccount tokens) and `spiffe` (JWT-SVIDs), as subject
 * and as actor: each exchanges its fixture (test/fixtures/claims), signed by a loopback issuer,
 * policies match namespace, ServiceAccount, trust domain and path by field, and the usual
 * mistakes are refused with named codes.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { parseSpiffeId } from '../../shared/verify/presets/spiffe.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let cluster: LoopbackIdp;
let spire: LoopbackIdp;
let keycloak: LoopbackIdp;
let h: Harness;

function config(): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: cluster, issuer: ${cluster.issuer}, audiences: [argo-sts], preset: kubernetes }
  - { name: spire, issuer: ${spire.issuer}, audiences: [argo-sts], preset: spiffe, trust_domain: example.org }
  - { name: keycloak, issuer: ${keycloak.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: release-agent-sa
    idp: cluster
    target: argo
    claims: { namespace: agents, serviceaccount: release-agent }
    namespaces: [ci]
    scopes: [argo:read]
  - id: spiffe-agents
    idp: spire
    target: argo
    claims: { trust_domain: example.org, spiffe_path: { pattern: "/ns/agents/sa/*" } }
    namespaces: [ci]
    scopes: [argo:read]
  - id: people
    idp: keycloak
    target: argo
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:read, argo:submit]
    delegation:
      actors:
        - { idp: cluster, claims: { namespace: agents, serviceaccount: release-agent }, scopes: [argo:read] }
        - { idp: spire, subject_pattern: "spiffe://example.org/ns/agents/*" }
`;
}

const saClaims = (o: Record<string, unknown> = {}) => fixtureClaims('kubernetes-serviceaccount', NOW, { iss: cluster.issuer, ...o });
const svidClaims = (o: Record<string, unknown> = {}) => fixtureClaims('spiffe-jwt-svid', NOW, { iss: spire.issuer, ...o });
const aliceClaims = () => fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer });

async function exchange(params: Record<string, string>) {
  const res = await h.exchange({ audience: 'argo', ...params });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function expectRefused(token: string, check: string, code: string) {
  const { status, body } = await exchange({ subject_token: token });
  expect({ status, error: body.error, check: body.check }).toEqual({ status: 400, error: 'invalid_request', check });
  expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: code, check });
  return body;
}

beforeAll(async () => {
  cluster = await startLoopbackIdp({ path: '/k8s' });
  spire = await startLoopbackIdp({ path: '/spire', alg: 'ES256' });
  keycloak = await startLoopbackIdp({ path: '/realms/platform' });
  h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv() });
});
afterAll(async () => {
  await Promise.all([cluster, spire, keycloak].map((idp) => idp.close()));
});

describe('kubernetes preset', () => {
  it('exchanges a bound ServiceAccount token, matched by namespace and ServiceAccount name', async () => {
    const { status, body } = await exchange({ subject_token: await cluster.sign(saClaims()) });
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token!)).toMatchObject({ sub: 'cluster:system:serviceaccount:agents:release-agent', namespace: 'ci' });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', policy: 'release-agent-sa' });
  });

  it('refuses another ServiceAccount of the same namespace (no policy matches)', async () => {
    const other = saClaims({
      sub: 'system:serviceaccount:agents:builder',
      'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'builder', uid: 'u' } },
    });
    await expectRefused(await cluster.sign(other), 'policy', 'ERR_POLICY_NO_MATCH');
  });

  it('refuses a legacy Secret-based token (iss kubernetes/serviceaccount, no exp) with ERR_K8S_LEGACY_TOKEN', async () => {
    const legacy = {
      iss: 'kubernetes/serviceaccount',
      sub: 'system:serviceaccount:agents:release-agent',
      'kubernetes.io/serviceaccount/namespace': 'agents',
      'kubernetes.io/serviceaccount/secret.name': 'release-agent-token-x2k4q',
      'kubernetes.io/serviceaccount/service-account.name': 'release-agent',
    };
    const body = await expectRefused(await cluster.sign(legacy), 'issuer', 'ERR_K8S_LEGACY_TOKEN');
    expect(body.error_description).toContain('legacy');
  });

  it("refuses a pod's default token for the apiserver's own audience with ERR_K8S_APISERVER_AUDIENCE", async () => {
    await expectRefused(await cluster.sign(saClaims({ aud: ['https://kubernetes.default.svc.cluster.local'] })), 'audience', 'ERR_K8S_APISERVER_AUDIENCE');
  });

  it('refuses a sub that contradicts the kubernetes.io claim', async () => {
    await expectRefused(await cluster.sign(saClaims({ sub: 'system:serviceaccount:kube-system:release-agent' })), 'format', 'ERR_PRESET_CLAIM_INVALID');
  });

  it('refuses a token whose own top-level namespace claim would pose as the cluster\'s', async () => {
    await expectRefused(await cluster.sign(saClaims({ namespace: 'agents' })), 'format', 'ERR_PRESET_CLAIM_INVALID');
  });

  it('refuses a token without the kubernetes.io claim', async () => {
    const { ['kubernetes.io']: _drop, ...rest } = saClaims();
    await expectRefused(await cluster.sign(rest), 'format', 'ERR_PRESET_CLAIM_INVALID');
  });

  it("refuses at load an idp that accepts the apiserver's audience or its own issuer", () => {
    const doc = config().replace('{ name: cluster, issuer: ' + cluster.issuer + ', audiences: [argo-sts]', `{ name: cluster, issuer: ${cluster.issuer}, audiences: [argo-sts, "https://kubernetes.default.svc", "${cluster.issuer}"]`);
    expect(() => parseConfigText(doc)).toThrow(/idps\[0\]\.audiences: "https:\/\/kubernetes\.default\.svc" is the apiserver's own audience[\s\S]*idps\[0\]\.audiences: "http:\/\/127/);
  });
});

describe('spiffe preset', () => {
  it('exchanges a JWT-SVID, matched by trust domain and path pattern', async () => {
    const { status, body } = await exchange({ subject_token: await spire.sign(svidClaims()) });
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token!).sub).toBe('spire:spiffe://example.org/ns/agents/sa/release-agent');
  });

  it('refuses a path outside the pattern', async () => {
    await expectRefused(await spire.sign(svidClaims({ sub: 'spiffe://example.org/ns/prod/sa/deployer' })), 'policy', 'ERR_POLICY_NO_MATCH');
  });

  it('refuses a SPIFFE ID of another trust domain with ERR_SPIFFE_TRUST_DOMAIN', async () => {
    await expectRefused(await spire.sign(svidClaims({ sub: 'spiffe://evil.example/ns/agents/sa/release-agent' })), 'issuer', 'ERR_SPIFFE_TRUST_DOMAIN');
  });

  it('refuses a sub that is not a SPIFFE ID', async () => {
    await expectRefused(await spire.sign(svidClaims({ sub: 'spiffe://example.org/ns/../admin' })), 'format', 'ERR_PRESET_CLAIM_INVALID');
    await expectRefused(await spire.sign(svidClaims({ sub: 'release-agent' })), 'format', 'ERR_PRESET_CLAIM_INVALID');
  });

  it.each([
    ['spiffe://example.org/ns/a', { trustDomain: 'example.org', path: '/ns/a' }],
    ['spiffe://example.org', { trustDomain: 'example.org', path: '' }],
    ['spiffe://Example.org/a', 'trust domain'],
    ['spiffe://example.org:443/a', 'trust domain'],
    ['spiffe://user@example.org/a', 'trust domain'],
    ['spiffe://example.org/a//b', 'segment'],
    ['spiffe://example.org/a/', 'segment'],
    ['spiffe://example.org/a?x=1', 'segment'],
    ['https://example.org/a', 'scheme'],
  ])('parses %s as the specification says', (id, expected) => {
    const parsed = parseSpiffeId(id);
    if (typeof expected === 'string') expect((parsed as { problem: string }).problem).toContain(expected);
    else expect(parsed).toEqual(expected);
  });
});

describe('workload tokens as actors', () => {
  it("lets a ServiceAccount act for a person, narrowed to the scopes delegated to it", async () => {
    const { status, body } = await exchange({
      subject_token: await keycloak.sign(aliceClaims()),
      actor_token: await cluster.sign(saClaims()),
      actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
    expect(status).toBe(200);
    expect(body.scope).toBe('argo:read');
    expect(decodeJwt(body.access_token!).act).toEqual({ sub: 'cluster:system:serviceaccount:agents:release-agent' });
  });

  it('lets a JWT-SVID act for a person', async () => {
    const { status, body } = await exchange({
      subject_token: await keycloak.sign(aliceClaims()),
      actor_token: await spire.sign(svidClaims()),
      actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      scope: 'argo:submit',
    });
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token!).act).toEqual({ sub: 'spire:spiffe://example.org/ns/agents/sa/release-agent' });
  });

  it("refuses a pod's default token as actor, naming the apiserver audience", async () => {
    const res = await h.exchange({
      audience: 'argo',
      subject_token: await keycloak.sign(aliceClaims()),
      actor_token: await cluster.sign(saClaims({ aud: 'https://kubernetes.default.svc' })),
      actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', check: 'audience' });
    expect(h.audits().at(-1)).toMatchObject({ error: 'ERR_K8S_APISERVER_AUDIENCE' });
  });
});
