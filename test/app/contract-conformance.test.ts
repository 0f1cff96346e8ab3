/**
 * Contract conformance (shared/DESIGN.md) found by a black-box audit: each test pins one sentence
 * of the contract that the product once got wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../shared/config.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let idp: LoopbackIdp;
let h: Harness;

beforeAll(async () => {
  idp = await startLoopbackIdp();
  h = await buildHarness(`
issuer: https://sts.test.example
signing: { alg: ES256, keys: generate }
idps:
  - { name: gh, issuer: ${idp.issuer}, audiences: [argo-sts] }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: p1, idp: gh, target: argo-prod, subject: "repo:acme/app", namespaces: [ci], scopes: [argo:read] }
`, { now: NOW });
});
afterAll(() => idp.close());

async function exchangeError(claims: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await h.exchange({ subject_token: await idp.sign({ iss: idp.issuer, ...claims }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('verification order: required claims come before audience, expiry and issued_at', () => {
  it('reports the missing exp, not the unaccepted audience, for a token with both faults', async () => {
    const { status, body } = await exchangeError({ sub: 'repo:acme/app', aud: 'someone-else', iat: NOW - 5 });
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: 'invalid_request', check: 'expiry' });
    expect(body.error_description).toMatch(/no numeric exp/);
  });

  it('reports the missing iat, not the unaccepted audience or the expiry, for a token with all three faults', async () => {
    const { body } = await exchangeError({ sub: 'repo:acme/app', aud: 'someone-else', exp: NOW - 600 });
    expect(body).toMatchObject({ error: 'invalid_request', check: 'issued_at' });
    expect(body.error_description).toMatch(/no numeric iat/);
  });

  it('still reports a bad signature before a missing sub', async () => {
    const token = await idp.sign({ iss: idp.issuer, aud: 'argo-sts', iat: NOW, exp: NOW + 300 }, { foreignKey: true });
    const res = await h.exchange({ subject_token: token });
    expect(await res.json()).toMatchObject({ error: 'invalid_request', check: 'signature' });
  });
});

/** DESIGN.md's configuration example, verbatim. */
const DESIGN_EXAMPLE = `
issuer: https://sts.example.com        # iss of minted tokens; discovery is served for it
signing:
  alg: ES256                           # RS256/384/512, ES256/384/512, PS256/384/512 — never EdDSA or HS*
  keys: env:ARGO_STS_SIGNING_KEYS      # env:NAME (private JWK or JWK Set JSON) | file:PATH |
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - name: github                       # used as the prefix of minted subjects: "github:<sub>"
    issuer: https://token.actions.githubusercontent.com   # exact match on iss
    audiences: [argo-sts]              # the subject token's aud must contain one of these
    preset: github-actions             # github-actions | gitlab | keycloak | entra | generic
targets:
  - name: argo-prod                    # what clients send as \`audience\`
    kind: kubernetes-oidc              # broker-signed JWT; the cluster trusts argo-sts as a JWT issuer
    audience: kubernetes               # aud of the minted token
    argo_server: https://argo.example.com
  - name: argo-legacy
    kind: kubernetes-tokenrequest      # ServiceAccount token from the TokenRequest API (min 600 s)
    api_server: https://k8s.example.com:6443
    credentials: aws-secrets-manager:argo-sts/cluster-token   # the broker's own narrow bearer token
  - name: aks-prod
    kind: entra-obo                    # or entra-client-credentials: AKS tokens through @azure/msal-node
    tenant_id: 8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b
    client_id: 3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f
    client_secret: env:ENTRA_CLIENT_SECRET
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main        # or subject_pattern (anchored glob)
    claims: { repository_owner: acme }                # exact; richer matching is the policy engine's
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
    max_ttl: 15m
audit: { sink: sqlite:./argo-sts-audit.db }           # stdout always; sqlite:PATH (Node) | d1:BINDING (Workers)
`;

function configIssues(text: string): readonly string[] {
  try {
    parseConfigText(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it("parses DESIGN.md's example as written", () => {
    expect(configIssues(DESIGN_EXAMPLE)).toEqual([]);
  });

  it('names an unknown key by its own path, one error per key', () => {
    const text = DESIGN_EXAMPLE.replace('    max_ttl: 15m', '    max_ttl: 15m\n    subjects: [a]\n    extra: 1').replace('issuer: https://sts.example.com ', 'issuerr: x\nissuer: https://sts.example.com ');
    expect([...configIssues(text)].sort()).toEqual([
      'issuerr: unknown key "issuerr"',
      'policies[0].extra: unknown key "extra"',
      'policies[0].subjects: unknown key "subjects"',
    ]);
  });
});
