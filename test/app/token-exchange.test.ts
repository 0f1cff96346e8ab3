import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { GITHUB_KEYCLOAK_POLICIES_YAML, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let github: LoopbackIdp;
let keycloak: LoopbackIdp;
let h: Harness;

function config(): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - name: github
    issuer: ${github.issuer}
    audiences: [argo-sts]
    preset: github-actions
  - name: keycloak
    issuer: ${keycloak.issuer}
    audiences: [argo-sts]
    preset: keycloak
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes-dev }
${GITHUB_KEYCLOAK_POLICIES_YAML}`;
}

function githubClaims(overrides: Record<string, unknown> = {}) {
  return fixtureClaims('github-actions', NOW, { iss: github.issuer, ...overrides });
}
function keycloakClaims(overrides: Record<string, unknown> = {}) {
  return fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer, ...overrides });
}

async function json(res: Response): Promise<Record<string, any>> {
  return (await res.json()) as Record<string, any>;
}

async function expectRefusal(res: Response, status: number, error: string, check: string) {
  const body = await json(res);
  expect({ status: res.status, error: body.error, check: body.check }).toEqual({ status, error, check });
  expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(body.access_token).toBeUndefined();
  expect(res.headers.get('cache-control')).toBe('no-store');
  return body;
}

beforeAll(async () => {
  github = await startLoopbackIdp();
  keycloak = await startLoopbackIdp({ path: '/realms/platform' });
  h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv() });
});
afterAll(async () => {
  await github.close();
  await keycloak.close();
});

describe('POST /token issues', () => {
  it('exchanges a GitHub Actions token for a cluster JWT that verifies against /.well-known/jwks.json', async () => {
    const subjectToken = await github.sign(githubClaims());
    const res = await h.exchange({ subject_token: subjectToken, audience: 'argo-prod' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await json(res);
    expect(body).toMatchObject({
      issued_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_type: 'Bearer',
      expires_in: 600,
      scope: 'argo:submit argo:read',
      namespace: 'ci',
    });
    const jwks = await json(await h.app.request('/.well-known/jwks.json'));
    const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(jwks as never), {
      issuer: 'https://sts.test.example',
      audience: 'kubernetes',
      currentDate: new Date(NOW * 1000),
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0].kid });
    expect(payload).toMatchObject({
      sub: 'github:repo:acme/app:ref:refs/heads/main',
      iat: NOW,
      nbf: NOW,
      exp: NOW + 600,
      groups: ['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read'],
      scope: 'argo:submit argo:read',
      namespace: 'ci',
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    // Nothing from the subject token beyond what the policy allows; the pipeline's name for Argo's creator label.
    expect(payload.preferred_username).toBe('github/acme/app');
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'groups', 'iat', 'iss', 'jti', 'namespace', 'nbf', 'preferred_username', 'scope', 'sub']);
  });

  it('grants only the requested scopes, and caps requested_ttl at the policy max_ttl', async () => {
    const res = await h.exchange({ subject_token: await github.sign(githubClaims()), audience: 'argo-prod', scope: 'argo:read', requested_ttl: '7200' });
    const body = await json(res);
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ scope: 'argo:read', expires_in: 900 });
  });

  it('accepts a JSON body as well as a form', async () => {
    const res = await h.app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: await github.sign(githubClaims()),
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        audience: 'argo-prod',
        requested_ttl: 120,
      }),
    });
    expect(res.status).toBe(200);
    expect((await json(res)).expires_in).toBe(120);
  });

  it('carries preferred_username, and email only when the IdP verified it', async () => {
    const verified = await json(await h.exchange({ subject_token: await keycloak.sign(keycloakClaims()), audience: 'argo-dev' }));
    const claims = JSON.parse(Buffer.from(verified.access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ sub: `keycloak:${keycloakClaims().sub}`, preferred_username: 'alice', email: 'alice@example.com', namespace: 'dev' });

    const unverified = await json(await h.exchange({ subject_token: await keycloak.sign(keycloakClaims({ email_verified: 'true' })), audience: 'argo-dev' }));
    const claims2 = JSON.parse(Buffer.from(unverified.access_token.split('.')[1], 'base64url').toString());
    expect(claims2.email).toBeUndefined();
    expect(claims2.preferred_username).toBe('alice');
  });

  it('lets an allowed actor act for the subject and records both identities', async () => {
    const res = await h.exchange({
      subject_token: await keycloak.sign(keycloakClaims()),
      actor_token: await keycloak.sign(keycloakClaims({ sub: 'agent-7', groups: [] })),
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'argo-dev',
      scope: 'argo:read',
    });
    const body = await json(res);
    expect(res.status).toBe(200);
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString());
    expect(claims.act).toEqual({ sub: 'keycloak:agent-7' });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', actor: 'keycloak:agent-7', sub: keycloakClaims().sub });
  });
});

describe('POST /token refuses and audits', () => {
  const cases: [string, () => Promise<Record<string, string>>, number, string, string][] = [
    ['a token for another audience', async () => ({ subject_token: await github.sign(githubClaims({ aud: 'https://github.com/acme' })) }), 400, 'invalid_request', 'audience'],
    ['a token from an untrusted issuer', async () => ({ subject_token: await github.sign(githubClaims({ iss: 'https://evil.example.com' })) }), 400, 'invalid_request', 'issuer'],
    ['a token signed by a key the issuer does not publish', async () => ({ subject_token: await github.sign(githubClaims(), { foreignKey: true }) }), 400, 'invalid_request', 'signature'],
    ['a token that expired 61 s ago with a 60 s leeway', async () => ({ subject_token: await github.sign(githubClaims({ exp: NOW - 61 })) }), 400, 'invalid_request', 'expiry'],
    ['a token whose nbf is 61 s in the future', async () => ({ subject_token: await github.sign(githubClaims({ nbf: NOW + 61 })) }), 400, 'invalid_request', 'not_before'],
    ['a token issued 95 s in the future', async () => ({ subject_token: await github.sign(githubClaims({ iat: NOW + 95 })) }), 400, 'invalid_request', 'issued_at'],
    ['a token without iat', async () => ({ subject_token: await github.sign(githubClaims({ iat: undefined })) }), 400, 'invalid_request', 'issued_at'],
    ['a token without sub', async () => ({ subject_token: await github.sign(githubClaims({ sub: undefined })) }), 400, 'invalid_request', 'format'],
    ['a subject outside every policy', async () => ({ subject_token: await github.sign(githubClaims({ sub: 'repo:other/app:ref:refs/heads/main' })) }), 400, 'invalid_request', 'policy'],
    ['claims outside every policy', async () => ({ subject_token: await github.sign(githubClaims({ repository_owner: 'evil' })) }), 400, 'invalid_request', 'policy'],
    ['a scope escalation', async () => ({ subject_token: await github.sign(githubClaims()), scope: 'argo:manage' }), 400, 'invalid_scope', 'scope'],
    ['a namespace escalation', async () => ({ subject_token: await github.sign(githubClaims()), namespace: 'kube-system' }), 400, 'invalid_scope', 'namespace'],
    ['an unknown audience', async () => ({ subject_token: await github.sign(githubClaims()), audience: 'prod-cluster' }), 400, 'invalid_target', 'target'],
    ['a target no matching policy allows', async () => ({ subject_token: await keycloak.sign(keycloakClaims()), audience: 'argo-prod' }), 400, 'invalid_target', 'target'],
    ['a request served only by a union of policies', async () => ({ subject_token: await github.sign(githubClaims()), namespace: 'staging', scope: 'argo:submit' }), 400, 'invalid_scope', 'scope'],
    ['an unsigned token (alg none)', async () => ({ subject_token: unsigned(githubClaims()) }), 400, 'invalid_request', 'format'],
    ['an encrypted token (JWE)', async () => ({ subject_token: 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d' }), 400, 'invalid_request', 'format'],
    ['a genuine token with a character appended to its payload (no byte string encodes to that length)', async () => {
      const [header, payload, signature] = (await github.sign(githubClaims())).split('.');
      return { subject_token: `${header}.${payload}A.${signature}` };
    }, 400, 'invalid_request', 'format'],
    ['a genuine token with characters appended to its signature: one (other bytes)', async () => ({ subject_token: `${await github.sign(githubClaims())}A` }), 400, 'invalid_request', 'signature'],
    ['a genuine token with characters appended to its signature: three (no byte string encodes to that length)', async () => ({ subject_token: `${await github.sign(githubClaims())}AAA` }), 400, 'invalid_request', 'format'],
    ['an actor the policy does not allow', async () => ({
      subject_token: await keycloak.sign(keycloakClaims()),
      actor_token: await keycloak.sign(keycloakClaims({ sub: 'agent-9' })),
      actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    }), 400, 'invalid_request', 'policy'],
  ];

  for (const [name, params, status, error, check] of cases) {
    it(`refuses ${name}: ${status} ${error} (check ${check})`, async () => {
      const p = await params();
      const res = await h.exchange({ audience: defaultAudience(p), ...p });
      await expectRefusal(res, status, error, check);
      const audit = h.audits().at(-1)!;
      expect(audit).toMatchObject({ decision: 'denied', check });
      expect(audit.subject_token_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(h.lines)).not.toContain(p.subject_token);
    });
  }

  function defaultAudience(p: Record<string, string>): string {
    return tokenIssuer(p.subject_token!) === keycloak.issuer ? 'argo-dev' : 'argo-prod';
  }
});

describe('inside the leeway, the same cases are accepted', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['expired 59 s ago', { exp: NOW - 59 }],
    ['nbf 59 s in the future', { nbf: NOW + 59 }],
    ['issued 60 s in the future', { iat: NOW + 60 }],
  ];
  for (const [name, overrides] of cases) {
    it(`accepts a token ${name} with a 60 s leeway`, async () => {
      const res = await h.exchange({ subject_token: await github.sign(githubClaims(overrides)), audience: 'argo-prod' });
      expect(res.status).toBe(200);
    });
  }
});

describe('malformed requests are invalid_request, checked before any token work', () => {
  it('refuses a repeated parameter', async () => {
    const token = await github.sign(githubClaims());
    const body = `grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=${token}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&scope=argo%3Aread&scope=argo%3Asubmit`;
    const res = await h.app.request('/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    await expectRefusal(res, 400, 'invalid_request', 'request');
  });

  it('refuses a body over 64 KiB', async () => {
    const res = await h.exchange({ subject_token: 'x', padding: 'a'.repeat(70 * 1024) });
    await expectRefusal(res, 400, 'invalid_request', 'request');
  });

  it('refuses a subject token over 16 KiB, under the format check as /diagnose names it', async () => {
    const res = await h.exchange({ subject_token: 'a'.repeat(16 * 1024 + 1) });
    const body = await expectRefusal(res, 400, 'invalid_request', 'format');
    expect(body.error_description).toContain('16384');
  });

  it('refuses another grant type with unsupported_grant_type', async () => {
    const res = await h.exchange({ grant_type: 'client_credentials', subject_token: 'x' });
    await expectRefusal(res, 400, 'unsupported_grant_type', 'request');
  });

  it('refuses another content type', async () => {
    const res = await h.app.request('/token', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    await expectRefusal(res, 400, 'invalid_request', 'request');
  });

  it('refuses an omitted audience when several targets are configured, under the target check', async () => {
    const res = await h.exchange({ subject_token: await github.sign(githubClaims()) });
    const body = await expectRefusal(res, 400, 'invalid_request', 'target');
    expect(body.error_description).toMatch(/audience/);
  });

  it('refuses a non-integer requested_ttl and an unknown requested_token_type', async () => {
    const token = await github.sign(githubClaims());
    await expectRefusal(await h.exchange({ subject_token: token, audience: 'argo-prod', requested_ttl: '10m' }), 400, 'invalid_request', 'request');
    await expectRefusal(await h.exchange({ subject_token: token, audience: 'argo-prod', requested_token_type: 'urn:ietf:params:oauth:token-type:saml2' }), 400, 'invalid_request', 'request');
  });

  it('refuses an omitted namespace when the answering policy allows several, under the namespace check', async () => {
    const res = await h.exchange({ subject_token: await github.sign(githubClaims({ sub: 'repo:acme/app:ref:refs/heads/dev' })), audience: 'argo-prod' });
    await expectRefusal(res, 400, 'invalid_request', 'namespace');
  });
});

describe('denials name the identity only when the signature verified', () => {
  it('records the verified sub of a genuine token refused as expired', async () => {
    await expectRefusal(await h.exchange({ subject_token: await github.sign(githubClaims({ exp: NOW - 120 })), audience: 'argo-prod' }), 400, 'invalid_request', 'expiry');
    expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', check: 'expiry', idp: 'github', iss: github.issuer, sub: 'repo:acme/app:ref:refs/heads/main' });
  });

  it('records no sub for a token whose signature does not verify', async () => {
    await expectRefusal(await h.exchange({ subject_token: await github.sign(githubClaims({ exp: NOW - 120 }), { foreignKey: true, kid: github.kid }), audience: 'argo-prod' }), 400, 'invalid_request', 'signature');
    const audit = h.audits().at(-1)!;
    expect(audit).toMatchObject({ decision: 'denied', check: 'signature' });
    expect(audit.sub).toBeUndefined();
  });
});

describe('issuer keys', () => {
  it('fetches keys once and serves later exchanges from the cache', async () => {
    const before = github.requests.jwks;
    for (let i = 0; i < 3; i++) {
      expect((await h.exchange({ subject_token: await github.sign(githubClaims()), audience: 'argo-prod' })).status).toBe(200);
    }
    expect(github.requests.jwks).toBe(before);
  });

  it('refetches once for an unknown kid, then waits out the cooldown', async () => {
    h.setNow(NOW + 100); // past the cooldown that follows the first fetch
    const before = github.requests.jwks;
    for (let i = 0; i < 5; i++) {
      await expectRefusal(await h.exchange({ subject_token: await github.sign(githubClaims(), { kid: `storm-${i}`, foreignKey: true }), audience: 'argo-prod' }), 400, 'invalid_request', 'signature');
    }
    h.setNow(NOW);
    expect(github.requests.jwks - before).toBe(1);
  });

  it('picks up a rotated key through the unknown-kid refresh after the cooldown', async () => {
    h.setNow(NOW + 200);
    await github.rotate();
    const res = await h.exchange({ subject_token: await github.sign(githubClaims()), audience: 'argo-prod' });
    h.setNow(NOW);
    expect(res.status).toBe(200);
  });

  it('answers 503 temporarily_unavailable when an issuer has no cached keys and its JWKS is down', async () => {
    const down = await startLoopbackIdp();
    down.setDown(true);
    const harness = await buildHarness(config().replace(github.issuer, down.issuer), { now: NOW, env: await signingKeysEnv() });
    const res = await harness.exchange({ subject_token: await down.sign(fixtureClaims('github-actions', NOW, { iss: down.issuer })), audience: 'argo-prod' });
    await expectRefusal(res, 503, 'temporarily_unavailable', 'signature');
    await down.close();
  });

  it('never fetches from an issuer the config does not name', async () => {
    const stranger = await startLoopbackIdp();
    await expectRefusal(await h.exchange({ subject_token: await stranger.sign(githubClaims({ iss: stranger.issuer })), audience: 'argo-prod' }), 400, 'invalid_request', 'issuer');
    expect(stranger.requests).toEqual({ discovery: 0, jwks: 0 });
    await stranger.close();
  });
});

describe('discovery and health', () => {
  it('serves discovery for the issuer and the public keys only', async () => {
    const doc = await json(await h.app.request('/.well-known/openid-configuration'));
    expect(doc).toMatchObject({ issuer: 'https://sts.test.example', jwks_uri: 'https://sts.test.example/.well-known/jwks.json' });
    const jwks = await json(await h.app.request('/.well-known/jwks.json'));
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it('answers /healthz and /readyz', async () => {
    expect((await h.app.request('/healthz')).status).toBe(200);
    const ready = await json(await h.app.request('/readyz'));
    expect(ready.status).toMatch(/ready|degraded/);
  });

  it('answers GET /token with 400 and Allow: POST', async () => {
    const res = await h.app.request('/token');
    expect(res.headers.get('allow')).toBe('POST');
    await expectRefusal(res, 400, 'invalid_request', 'request');
  });
});

function unsigned(claims: Record<string, unknown>): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
}

function tokenIssuer(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iss;
  } catch {
    return undefined;
  }
}
