/**
 * Targets that someone else issues: ServiceAccount tokens from the Kubernetes TokenRequest API
 * and AKS tokens from Entra ID through MSAL — against loopback fakes of those protocols.
 *
 * The clock is the real one, frozen at the start: MSAL computes expiry from the real clock.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msalEntraClientFactory } from '../../functions/ports/entra-msal.ts';
import { fetchTrustingCa } from '../../functions/node/ca-fetch.ts';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { buildTargetIssuers, TargetSetupError } from '../../shared/targets/build-target-issuers.ts';
import { AKS_SERVER_APP, FAKE_TENANT, type FakeEntra, startFakeEntra } from '../fakes/entra.ts';
import { type FakeKubernetes, reviewToken, startFakeKubernetes } from '../fakes/kubernetes-api.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = Math.floor(Date.now() / 1000);
const CLUSTER_TOKEN = 'broker-narrow-token';
const { tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } = FAKE_TENANT;

let github: LoopbackIdp;
let k8s: FakeKubernetes;
let entra: FakeEntra;
let h: Harness;
let signingKeys: string;

function config(overrides: { clientSecretRef?: string } = {}): string {
  const meta = entra.msalMetadata();
  const entraTarget = (name: string, kind: string) => `
  - name: ${name}
    kind: ${kind}
    tenant_id: ${TENANT}
    client_id: ${CLIENT_ID}
    client_secret: ${overrides.clientSecretRef ?? 'env:ENTRA_SECRET'}
    authority: ${meta.authority}
    authority_metadata: '${meta.authorityMetadata}'
    cloud_discovery_metadata: '${meta.cloudDiscoveryMetadata}'`;
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - { name: github, issuer: "${github.issuer}", audiences: [argo-sts], preset: github-actions }
  - { name: entra, issuer: "${entra.issuer}", audiences: ["${CLIENT_ID}"] }
targets:
  - name: argo-legacy
    kind: kubernetes-tokenrequest
    api_server: ${k8s.url}
    credentials: env:CLUSTER_TOKEN
    audiences: [https://argo.example.com]
  - name: argo-wrong-token
    kind: kubernetes-tokenrequest
    api_server: ${k8s.url}
    credentials: env:WRONG_TOKEN
${entraTarget('aks-obo', 'entra-obo')}
${entraTarget('aks-sp', 'entra-client-credentials')}
policies:
  - id: ci-legacy
    idp: github
    target: [argo-legacy, argo-wrong-token]
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci, staging, ghost]
    scopes: [argo:submit]
    service_account: argo-submitter
  - id: people-aks
    idp: entra
    target: [aks-obo, aks-sp]
    claims: { tid: "${TENANT}" }
    namespaces: [default]
    scopes: [k8s:view]
`;
}

const env = () => ({ SIGNING_KEYS: signingKeys, CLUSTER_TOKEN, WRONG_TOKEN: 'stolen-or-stale', ENTRA_SECRET: CLIENT_SECRET, BAD_SECRET: 'not-the-secret' });
const ports = () => ({ entraClient: msalEntraClientFactory((input: string, init?: RequestInit) => fetch(input, init)) });

async function githubToken(overrides: Record<string, unknown> = {}) {
  return github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer, ...overrides }), { now: NOW });
}

async function body(res: Response): Promise<Record<string, any>> {
  return (await res.json()) as Record<string, any>;
}

beforeAll(async () => {
  github = await startLoopbackIdp();
  k8s = await startFakeKubernetes({
    brokerToken: CLUSTER_TOKEN,
    serviceAccounts: ['ci/argo-submitter'],
    allowed: ['ci/argo-submitter', 'ghost/argo-submitter'],
    maxExpirationSeconds: 1800,
    now: () => NOW,
  });
  entra = await startFakeEntra({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  signingKeys = JSON.stringify(await generatePrivateJwks('ES256'));
  h = await buildHarness(config(), { now: NOW, env: env(), ports: ports() });
});
afterAll(async () => {
  await Promise.all([github.close(), k8s.close(), entra.close()]);
});

describe('kubernetes-tokenrequest', () => {
  it('exchanges a CI token for a ServiceAccount token the cluster accepts', async () => {
    const res = await h.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
    expect(res.status).toBe(200);
    const out = await body(res);
    expect(out).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'argo:submit', namespace: 'ci' });
    const call = k8s.requests.at(-1)!;
    expect(call.path).toBe('/api/v1/namespaces/ci/serviceaccounts/argo-submitter/token');
    expect(call.body).toEqual({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['https://argo.example.com'], expirationSeconds: 600 } });
    const review = await reviewToken(k8s.url, CLUSTER_TOKEN, out.access_token, ['https://argo.example.com']);
    expect(review).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:ci:argo-submitter' } });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', target: 'argo-legacy', ttl: 600, jti: decodeJwt(out.access_token).jti });
  });

  it('counts only the IdP\'s discovery and JWKS fetches as IdP fetches, never the TokenRequest call', async () => {
    const fetches: { origin: string; kind: string }[] = [];
    const metrics = { decision: () => {}, durableWrite: () => {}, idpFetch: (origin: string, kind: string) => void fetches.push({ origin, kind }) };
    const counted = await buildHarness(config(), { now: NOW, env: env(), ports: { ...ports(), metrics } });
    const res = await counted.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
    expect(res.status).toBe(200);
    expect(fetches.map((f) => f.kind).sort()).toEqual(['discovery', 'jwks']);
    expect(fetches.every((f) => f.origin === new URL(github.issuer).origin)).toBe(true);
  });

  it('reports the lifetime the API server granted when it shortens the request', async () => {
    const res = await h.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci', requested_ttl: '3600' });
    expect(k8s.requests.at(-1)!.body.spec.expirationSeconds).toBe(3600);
    expect((await body(res)).expires_in).toBe(1800);
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', ttl: 1800 });
  });

  it('raises a requested_ttl under 600 s to the Kubernetes minimum', async () => {
    const res = await h.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci', requested_ttl: '60' });
    expect(k8s.requests.at(-1)!.body.spec.expirationSeconds).toBe(600);
    expect((await body(res)).expires_in).toBe(600);
  });

  it('answers 503 when RBAC forbids the broker (403), and tells the operator, not the client', async () => {
    const res = await h.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'staging' });
    expect(res.status).toBe(503);
    const out = await body(res);
    expect(out).toMatchObject({ error: 'temporarily_unavailable', check: 'unavailable' });
    expect(out.error_description).not.toMatch(/argo-submitter/);
    expect(h.errors.at(-1)).toMatch(/target "argo-legacy" \(kubernetes-tokenrequest\) is misconfigured: the broker may not create serviceaccounts\/token for staging\/argo-submitter \(403 Forbidden\)/);
    expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: 'ERR_UPSTREAM_UNAVAILABLE' });
  });

  it('answers 503 for a missing ServiceAccount (404) and a rejected broker credential (401)', async () => {
    const missing = await h.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ghost' });
    expect(missing.status).toBe(503);
    expect(h.errors.at(-1)).toMatch(/ServiceAccount ghost\/argo-submitter does not exist \(404 NotFound\)/);
    const rejected = await h.exchange({ subject_token: await githubToken(), audience: 'argo-wrong-token', namespace: 'ci' });
    expect(rejected.status).toBe(503);
    expect(h.errors.at(-1)).toMatch(/rejected the broker's credential \(401 Unauthorized\)/);
    expect(h.errors.join('\n')).not.toContain('stolen-or-stale');
  });

  it('re-reads a rotated broker credential after a 401 and retries once, at most every 30 s', async () => {
    const secrets = { ...env(), CLUSTER_TOKEN: 'rotated-away' };
    const rotating = await buildHarness(config(), { now: NOW, env: secrets, ports: ports() });
    const stale = await rotating.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
    expect(stale.status).toBe(503); // re-read, still the same token: misconfigured
    secrets.CLUSTER_TOKEN = CLUSTER_TOKEN; // the operator rotates the secret
    const cooling = await rotating.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
    expect(cooling.status).toBe(503); // within 30 s of the last re-read: not read again
    rotating.setNow(NOW + 30);
    const rotated = await rotating.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
    expect(rotated.status).toBe(200);
    expect(rotating.errors.join('\n')).toMatch(/retrying with the re-read one/);
    expect(rotating.errors.join('\n')).not.toContain(CLUSTER_TOKEN);
  });

  it('passes the API server throttling on as 503 with Retry-After', async () => {
    k8s.failWith(429);
    try {
      const res = await h.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('7');
    } finally {
      k8s.failWith(undefined);
    }
  });

  it('refuses at load a TTL under 600 s for a policy granting such a target', () => {
    const base = config();
    const shortDefault = base.replace('defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }', 'defaults: { ttl: 5m, max_ttl: 1h, clock_skew: 60s }');
    expect(() => parseConfigText(shortDefault)).toThrow(/defaults\.ttl: at least 600s when a policy grants kubernetes-tokenrequest target "argo-legacy"/);
    const shortPolicy = base.replace('    service_account: argo-submitter', '    service_account: argo-submitter\n    max_ttl: 9m');
    const err = (() => {
      try {
        parseConfigText(shortPolicy);
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.issues).toContain('policies[0].max_ttl: at least 600s for kubernetes-tokenrequest target "argo-legacy" (Kubernetes refuses shorter tokens)');
  });

  it('refuses a ca: on a runtime whose fetch cannot trust a private CA (Workers)', async () => {
    const cfg = parseConfigText(config().replace('credentials: env:CLUSTER_TOKEN', 'credentials: env:CLUSTER_TOKEN\n    ca: env:CLUSTER_CA'));
    const keys = h.broker.signingKeys;
    await expect(buildTargetIssuers(cfg, keys, { fetch, resolveSecret: async () => 'x', warn: () => {} })).rejects.toThrow(TargetSetupError);
    await expect(buildTargetIssuers(cfg, keys, { fetch, resolveSecret: async () => 'x', warn: () => {} })).rejects.toThrow(/publicly trusted certificate/);
  });

  it('talks https to an API server with a private CA on Node when ca: is set, and refuses without it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-ca-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
      const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
      const tls = await startFakeKubernetes({ brokerToken: CLUSTER_TOKEN, serviceAccounts: ['ci/argo-submitter'], allowed: ['ci/argo-submitter'], tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert }, now: () => NOW });
      try {
        const withCa = config().replace(`api_server: ${k8s.url}\n    credentials: env:CLUSTER_TOKEN`, `api_server: ${tls.url}\n    credentials: env:CLUSTER_TOKEN\n    ca: env:CLUSTER_CA`);
        const trusted = await buildHarness(withCa, { now: NOW, env: { ...env(), CLUSTER_CA: cert }, ports: { ...ports(), fetchTrustingCa } });
        const ok = await trusted.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
        expect(ok.status).toBe(200);
        const withoutCa = config().replace(`api_server: ${k8s.url}`, `api_server: ${tls.url}`);
        const untrusting = await buildHarness(withoutCa, { now: NOW, env: env(), ports: ports() });
        const refused = await untrusting.exchange({ subject_token: await githubToken(), audience: 'argo-legacy', namespace: 'ci' });
        expect(refused.status).toBe(503);
        expect(untrusting.errors.at(-1)).toMatch(/the API server is unreachable/);
      } finally {
        await tls.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('entra-obo and entra-client-credentials', () => {
  it('exchanges an Entra user token on behalf of the same user for an AKS token', async () => {
    const before = entra.calls.length;
    const res = await h.exchange({ subject_token: await entra.userToken(), audience: 'aks-obo', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    expect(res.status).toBe(200);
    const out = await body(res);
    expect(out).toMatchObject({ token_type: 'Bearer', namespace: 'default', scope: 'k8s:view' });
    // Entra's expires_in (3599) counted from MSAL's real clock, reported against the frozen one.
    expect(out.expires_in).toBeGreaterThanOrEqual(3599);
    expect(out.expires_in).toBeLessThan(3599 + 120);
    expect(decodeJwt(out.access_token)).toMatchObject({ aud: AKS_SERVER_APP, upn: 'ada@contoso.example', appid: CLIENT_ID });
    const call = entra.calls[before]!;
    expect(call).toMatchObject({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', requested_token_use: 'on_behalf_of', client_id: CLIENT_ID, has_assertion: true });
    expect(call.scope!.split(' ')).toContain(`${AKS_SERVER_APP}/.default`);
  });

  it('acquires a token for the service principal with client credentials, cached in memory by MSAL', async () => {
    const first = await h.exchange({ subject_token: await entra.userToken(), audience: 'aks-sp' });
    expect(first.status).toBe(200);
    expect(decodeJwt((await body(first)).access_token)).toMatchObject({ aud: AKS_SERVER_APP, idtyp: 'app', appid: CLIENT_ID });
    const calls = entra.calls.filter((c) => c.grant_type === 'client_credentials').length;
    expect(calls).toBe(1);
    const second = await h.exchange({ subject_token: await entra.userToken(), audience: 'aks-sp' });
    expect(second.status).toBe(200);
    expect(entra.calls.filter((c) => c.grant_type === 'client_credentials').length).toBe(1);
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', target: 'aks-sp' });
  });

  it('refuses with invalid_request (check target) when Entra refuses the on-behalf-of assertion', async () => {
    // Inside the broker's 60 s leeway, past Entra's (which has none).
    const token = await entra.userToken({ exp: NOW - 30 });
    const res = await h.exchange({ subject_token: token, audience: 'aks-obo' });
    expect(res.status).toBe(400);
    const out = await body(res);
    expect(out).toMatchObject({ error: 'invalid_request', check: 'target' });
    expect(out.error_description).toMatch(/^Entra ID refused the on-behalf-of exchange for this token \(invalid_grant, AADSTS500133\)/);
  });

  it('answers 503 and logs a misconfiguration when the client secret is wrong', async () => {
    const wrong = await buildHarness(config({ clientSecretRef: 'env:BAD_SECRET' }), { now: NOW, env: env(), ports: ports() });
    const res = await wrong.exchange({ subject_token: await entra.userToken(), audience: 'aks-sp' });
    expect(res.status).toBe(503);
    expect((await body(res)).error).toBe('temporarily_unavailable');
    expect(wrong.errors.at(-1)).toMatch(/target "aks-sp" \(entra-client-credentials\) is misconfigured: Entra ID answered invalid_client \(AADSTS7000215\)/);
    expect(wrong.errors.join('\n')).not.toContain('not-the-secret');
  });
});
