/**
 * End to end on Node, as an operator runs it: `npm start --silent` with a YAML config file, a
 * signing key set in the environment and a SQLite audit sink, in front of two real loopback
 * issuers — a Keycloak-shaped realm served by oidc-provider (real client_credentials access
 * tokens from its token endpoint) and a GitHub Actions-shaped issuer. Everything talks to
 * 127.0.0.1 only, on the real clock.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { CI_MAIN_POLICY_YAML } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { ARGO_STS_AUDIENCE, type OidcProviderIdp, startOidcProviderIdp } from '../support/oidc-provider-idp.ts';
import { loopbackServerEnv, type SpawnedServer, spawnServer, spawnServerToExit } from '../support/spawn-server.ts';
import { ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from '../support/token-requests.ts';

const ISSUER = 'https://argo-sts.platform.example/sts';
const CLUSTER_AUDIENCE = 'kubernetes';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

let keycloak: OidcProviderIdp;
let github: LoopbackIdp;
let server: SpawnedServer;
let dir: string;
let signingKeys: string;

/** Every /token call made against the server, so the audit checks can account for each. */
interface Decision {
  readonly requestId: string;
  readonly status: number;
  readonly subjectToken: string;
  readonly accessToken?: string;
  readonly jti?: string;
  readonly check?: string;
}
const decisions: Decision[] = [];
/** Every token string that exists in this test: none may reach the server's stdout or stderr. */
const tokens = new Set<string>();

function config(overrides: { firstPolicyTarget?: string } = {}): string {
  return `
issuer: ${ISSUER}
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - name: keycloak
    issuer: ${keycloak.issuer}
    audiences: [${ARGO_STS_AUDIENCE}]
    preset: keycloak
  - name: github
    issuer: ${github.issuer}
    audiences: [argo-sts]
    preset: github-actions
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: ${CLUSTER_AUDIENCE} }
policies:
  # oidc-provider puts the client id in the sub of a client_credentials access token
  - id: platform-ci
    idp: keycloak
    target: ${overrides.firstPolicyTarget ?? 'argo-prod'}
    subject: ${keycloak.clientId}
    claims: { azp: ${keycloak.clientId}, groups: platform-engineers }
    namespaces: [platform]
    scopes: [argo:manage]
${CI_MAIN_POLICY_YAML}
audit: { sink: "sqlite:${join(dir, 'audit.db')}" }
`;
}

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function serverEnv(configPath: string): Record<string, string> {
  return loopbackServerEnv(configPath, { SIGNING_KEYS: signingKeys });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function githubToken(claims: Record<string, unknown> = {}, now = nowSeconds()): Promise<string> {
  // A fresh jti each time, as GitHub does, so no token is ever presented twice.
  const token = await github.sign(fixtureClaims('github-actions', now, { iss: github.issuer, jti: crypto.randomUUID(), ...claims }));
  tokens.add(token);
  return token;
}

async function keycloakToken(resource?: string): Promise<string> {
  const token = await keycloak.accessToken(resource);
  tokens.add(token);
  return token;
}

/** POST /token as a client does, recording the decision. */
async function exchange(subjectToken: string, params: Record<string, string> = {}) {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subjectToken, audience: 'argo-prod', ...params }).toString(),
  });
  const body = (await res.json()) as Record<string, any>;
  const requestId = res.headers.get('x-request-id');
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  const accessToken = typeof body.access_token === 'string' ? body.access_token : undefined;
  if (accessToken) tokens.add(accessToken);
  decisions.push({
    requestId: requestId!,
    status: res.status,
    subjectToken,
    accessToken,
    jti: accessToken ? (decodeJwt(accessToken).jti as string) : undefined,
    check: body.check,
  });
  return { res, body, requestId: requestId! };
}

async function verifyMinted(accessToken: string) {
  const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
  return jwtVerify(accessToken, jwks, { issuer: ISSUER, audience: CLUSTER_AUDIENCE, algorithms: ['ES256'] });
}

function expectRefusal(
  { res, body, requestId }: Awaited<ReturnType<typeof exchange>>,
  expected: { error: string; check: string },
) {
  expect({ status: res.status, error: body.error, check: body.check }).toEqual({ status: 400, ...expected });
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(body.request_id).toBe(requestId);
  expect(body.access_token).toBeUndefined();
  expect(typeof body.error_description).toBe('string');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Reads audit rows straight from the file, read-only, while the server keeps it open. */
function auditRows(where: 'request_id' | 'jti', value: string): Record<string, unknown>[] {
  const db = new DatabaseSync(join(dir, 'audit.db'), { readOnly: true });
  try {
    return db.prepare(`SELECT * FROM audit_events WHERE ${where} = ?`).all(value) as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-e2e-'));
  signingKeys = JSON.stringify(await generatePrivateJwks('ES256'));
  keycloak = await startOidcProviderIdp({ realm: 'platform', clientId: 'argo-ci' });
  github = await startLoopbackIdp();
  server = await spawnServer(serverEnv(writeConfig('argo-sts.yaml', config())));
});

afterAll(async () => {
  // stop() throws if any process of npm's group outlives SIGTERM (it is then SIGKILLed).
  await server?.stop();
  await keycloak?.close();
  await github?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('argo-sts under `npm start`, in front of a real OpenID Provider and a GitHub-shaped issuer', () => {
  it('listens on the loopback address it was given and answers /healthz and /readyz with 200', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.issuer).toBe(ISSUER);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { audit: { status: 'ok' } } });
  });

  it('serves discovery naming the configured issuer, at the root and under the issuer path', async () => {
    for (const path of ['/.well-known/openid-configuration', '/sts/.well-known/openid-configuration']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ issuer: ISSUER, jwks_uri: `${ISSUER}/.well-known/jwks.json` });
    }
  });

  it('exchanges a real oidc-provider (Keycloak-shaped) access token for a cluster JWT that verifies against /.well-known/jwks.json', async () => {
    const subjectToken = await keycloakToken();
    // What the IdP really issued: a JWT access token whose sub is the client id.
    expect(decodeJwt(subjectToken)).toMatchObject({ iss: keycloak.issuer, aud: ARGO_STS_AUDIENCE, sub: keycloak.clientId, azp: keycloak.clientId });

    const exchanged = await exchange(subjectToken, { subject_token_type: ACCESS_TOKEN_TYPE });
    expect(exchanged.res.status).toBe(200);
    expect(exchanged.res.headers.get('cache-control')).toBe('no-store');
    expect(exchanged.body).toMatchObject({
      issued_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_type: 'Bearer',
      expires_in: 600,
      scope: 'argo:manage',
      namespace: 'platform',
    });

    const { payload, protectedHeader } = await verifyMinted(exchanged.body.access_token);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: JSON.parse(signingKeys).keys[0].kid });
    expect(payload).toMatchObject({
      iss: ISSUER,
      aud: CLUSTER_AUDIENCE,
      sub: `keycloak:${keycloak.clientId}`,
      groups: ['argo-sts:platform:argo:manage'],
      scope: 'argo:manage',
      namespace: 'platform',
      preferred_username: keycloak.mappedClaims.preferred_username,
      email: keycloak.mappedClaims.email,
    });
    expect(payload.exp! - payload.iat!).toBe(600);
    // Nothing else of the subject token crosses over (no azp, client_id, realm_access, ...).
    expect(Object.keys(payload).sort()).toEqual(
      ['aud', 'email', 'email_verified', 'exp', 'groups', 'iat', 'iss', 'jti', 'namespace', 'nbf', 'preferred_username', 'scope', 'sub'],
    );
  });

  it('exchanges a GitHub Actions-shaped token for a cluster JWT with the policy namespace and scopes', async () => {
    const exchanged = await exchange(await githubToken(), { subject_token_type: ID_TOKEN_TYPE, requested_ttl: '300' });
    expect(exchanged.res.status).toBe(200);
    expect(exchanged.body).toMatchObject({ expires_in: 300, scope: 'argo:submit argo:read', namespace: 'ci' });
    const { payload } = await verifyMinted(exchanged.body.access_token);
    expect(payload).toMatchObject({
      sub: 'github:repo:acme/app:ref:refs/heads/main',
      groups: ['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read'],
      namespace: 'ci',
    });
    // GitHub tokens name no person: no email is invented; preferred_username names the pipeline
    // (idp and repository) for Argo's creator-preferred-username label.
    expect(payload.preferred_username).toBe('github/acme/app');
    expect(payload.email).toBeUndefined();
  });

  it('refuses a genuine oidc-provider token issued for another resource: 400 invalid_request (check audience)', async () => {
    const subjectToken = await keycloakToken('https://other.example');
    expect(decodeJwt(subjectToken).aud).toBe('https://other.example');
    expectRefusal(await exchange(subjectToken, { subject_token_type: ACCESS_TOKEN_TYPE }), { error: 'invalid_request', check: 'audience' });
  });

  it('refuses a GitHub-shaped token that expired an hour ago, far beyond the 60 s leeway: 400 invalid_request (check expiry)', async () => {
    const subjectToken = await githubToken({}, nowSeconds() - 3600);
    expect(decodeJwt(subjectToken).exp).toBeLessThan(nowSeconds() - 60);
    expectRefusal(await exchange(subjectToken, { subject_token_type: ID_TOKEN_TYPE }), { error: 'invalid_request', check: 'expiry' });
  });

  it('refuses a valid token that no policy matches (another branch): 400 invalid_request (check policy)', async () => {
    const subjectToken = await githubToken({ sub: 'repo:acme/app:ref:refs/heads/feature-x', ref: 'refs/heads/feature-x' });
    expectRefusal(await exchange(subjectToken, { subject_token_type: ID_TOKEN_TYPE }), { error: 'invalid_request', check: 'policy' });
  });

  it('writes exactly one stdout audit line per decision, and a SQLite row for each, found by request_id and by jti', async () => {
    // Its own pair of decisions, so this check stands on its own; then every decision so far.
    await exchange(await keycloakToken(), { subject_token_type: ACCESS_TOKEN_TYPE });
    await exchange(await githubToken({ repository_owner: 'evil' }), { subject_token_type: ID_TOKEN_TYPE });
    expect(decisions.some((d) => d.status === 200)).toBe(true);
    expect(decisions.some((d) => d.status === 400)).toBe(true);

    for (const decision of decisions) {
      const lines = await server.waitForAudit(decision.requestId);
      expect(lines, `audit lines for ${decision.requestId}`).toHaveLength(1);
      const line = lines[0]!;
      expect(line).toMatchObject({ type: 'audit', endpoint: 'token', request_id: decision.requestId, subject_token_sha256: sha256(decision.subjectToken) });

      const rows = auditRows('request_id', decision.requestId);
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row).toMatchObject({ endpoint: 'token', decision: line.decision, subject_token_sha256: sha256(decision.subjectToken) });

      if (decision.status === 200) {
        expect(line).toMatchObject({ decision: 'issued', jti: decision.jti });
        expect(row.jti).toBe(decision.jti);
        expect(auditRows('jti', decision.jti!).map((r) => r.request_id)).toEqual([decision.requestId]);
      } else {
        expect(line).toMatchObject({ decision: 'denied', check: decision.check });
        expect(line.jti).toBeUndefined();
        expect(row).toMatchObject({ check_id: decision.check, jti: null });
      }
    }
    // stdout holds audit lines and nothing else; one per decision made.
    const lines = server.jsonLines();
    expect(lines.every((line) => line.type === 'audit')).toBe(true);
    expect(lines).toHaveLength(decisions.length);
  });

  it('never writes a subject token or an issued token to stdout or stderr', async () => {
    // At least one token of each kind, even when this runs alone.
    await exchange(await keycloakToken(), { subject_token_type: ACCESS_TOKEN_TYPE });
    expect(decisions.some((d) => d.accessToken)).toBe(true);
    for (const decision of decisions) await server.waitForAudit(decision.requestId);

    const output = [...server.stdout, ...server.stderr];
    expect(tokens.size).toBeGreaterThanOrEqual(2);
    for (const token of tokens) {
      // The whole token, and its signing input (a truncated token would still leak that).
      const signingInput = token.split('.').slice(0, 2).join('.');
      const leaking = output.filter((line) => line.includes(token) || line.includes(signingInput));
      expect(leaking, 'output lines containing a token').toEqual([]);
    }
  });
});

describe('start-up with a broken config', () => {
  it('exits with code 2 and names the failing path (policies[0].target) on stderr, before serving', async () => {
    const broken = writeConfig('broken.yaml', config({ firstPolicyTarget: 'argo-nowhere' }));
    const exited = await spawnServerToExit(serverEnv(broken));
    expect(exited.code).toBe(2);
    expect(exited.stderr.join('\n')).toContain('policies[0].target');
    expect(exited.stderr.join('\n')).not.toContain('serving');
    expect(exited.stdout).toEqual([]);
  });
});
