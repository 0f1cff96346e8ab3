/**
 * Contract conformance (shared/DESIGN.md) found by a black-box audit: each test pins one sentence
 * of the contract that the product once got wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/config/parse-config.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { createSecretStore } from '../../shared/config/secret-refs.ts';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
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

const SMALL_CONFIG = `
issuer: https://sts.example.com
signing: { alg: ES256, keys: generate }
idps: [{ name: gh, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts] }]
targets: [{ name: t1, kind: kubernetes-oidc, audience: k1 }]
policies:
  - id: p1
    idp: gh
    target: t1
    subject: s
    namespaces: [ci]
    scopes: [argo:read]
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
  it('names an unknown key by its own path, one error per key', () => {
    expect(configIssues(SMALL_CONFIG)).toEqual([]);
    const text = SMALL_CONFIG.replace('    scopes: [argo:read]', '    scopes: [argo:read]\n    subjects: [a]\n    extra: 1').replace('issuer: https://sts.example.com', 'issuerr: x\nissuer: https://sts.example.com');
    expect([...configIssues(text)].sort()).toEqual([
      'issuerr: unknown key "issuerr"',
      'policies[0].extra: unknown key "extra"',
      'policies[0].subjects: unknown key "subjects"',
    ]);
  });
});

describe('start-up refusals', () => {
  it('refuses a file: key set with no key for signing.alg, naming signing.alg', async () => {
    const rsaOnly = JSON.stringify(await generatePrivateJwks('RS256'));
    const config = SMALL_CONFIG.replace('keys: generate', 'keys: file:/etc/argo-sts/keys.json');
    const secrets = createSecretStore({ runtime: 'Node', env: () => undefined, file: async () => rsaOnly });
    await expect(buildHarness(config, { now: NOW, secrets }))
      .rejects.toThrow('signing keys: no key in the set can sign with ES256 (signing.alg)');
  });
});

describe('discovery at issuer + /.well-known/openid-configuration', () => {
  it.each([
    ['https://sts.example.com/tenant-a/', ['/tenant-a//.well-known/openid-configuration', '/tenant-a/.well-known/openid-configuration', '/.well-known/openid-configuration']],
    ['https://sts.example.com/', ['//.well-known/openid-configuration', '/.well-known/openid-configuration']],
    ['https://sts.example.com/tenant-a', ['/tenant-a/.well-known/openid-configuration', '/.well-known/openid-configuration']],
  ])('serves the issuer %s at the literal concatenation and the slash-stripped form', async (issuer, paths) => {
    const app = (await buildHarness(SMALL_CONFIG.replace('issuer: https://sts.example.com', `issuer: ${issuer}`), { now: NOW })).app;
    for (const path of paths) {
      const res = await app.request(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(((await res.json()) as { issuer: string }).issuer).toBe(issuer);
      expect((await app.request(path.replace('openid-configuration', 'jwks.json'))).status).toBe(200);
    }
  });
});
