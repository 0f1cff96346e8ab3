/**
 * POST /diagnose as a specification: for each failure class, real tokens from loopback IdPs,
 * the failing check, its numbers and its hint; then the disclosure rule and the HTTP contract.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_IDS } from '../../shared/errors.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { GITHUB_KEYCLOAK_POLICIES_YAML, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
const SERVER_TIME = new Date(NOW * 1000).toISOString();
const TID = '8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b';
const API_CLIENT_ID = '3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f';

let github: LoopbackIdp;
let keycloak: LoopbackIdp;
let entra: LoopbackIdp;
let ghe: LoopbackIdp;
let gitlab: LoopbackIdp;
let signingKeys: { SIGNING_KEYS: string };
let h: Harness;

function config(reveal: 'verified' | 'full' | 'basic' = 'verified', overrides: { githubIssuer?: string } = {}): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
diagnose: { reveal: ${reveal} }
idps:
  - name: github
    issuer: ${overrides.githubIssuer ?? github.issuer}
    audiences: [argo-sts]
    preset: github-actions
  - name: keycloak
    issuer: ${keycloak.issuer}
    audiences: [argo-sts]
    preset: keycloak
    algorithms: [RS256]
  - name: entra
    issuer: https://login.microsoftonline.com/${TID}/v2.0
    jwks_uri: ${entra.jwksUri}
    tenant_id: ${TID}
    audiences: [${API_CLIENT_ID}]
    preset: entra
  - name: ghe
    issuer: https://token.actions.githubusercontent.com/acme-corp
    jwks_uri: ${ghe.jwksUri}
    audiences: [argo-sts]
    preset: github-actions
  - name: gitlab
    issuer: https://gitlab.example.com
    jwks_uri: ${gitlab.jwksUri}
    audiences: [argo-sts]
    preset: gitlab
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes, argo_server: https://argo.example.com }
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes-dev }
${GITHUB_KEYCLOAK_POLICIES_YAML}
  - { id: ghe-ci, idp: ghe, target: argo-prod, subject_pattern: "repo:acme/*", claims: { repository_owner: acme }, namespaces: [ci], scopes: [argo:read] }
  - { id: gitlab-ci, idp: gitlab, target: argo-prod, subject_pattern: "project_path:platform/*", namespaces: [ci], scopes: [argo:read] }
`;
}

const githubClaims = (overrides: Record<string, unknown> = {}) => fixtureClaims('github-actions', NOW, { iss: github.issuer, ...overrides });
const keycloakClaims = (overrides: Record<string, unknown> = {}) => fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer, ...overrides });

type Check = { check: string; status: string; message: string; expected?: unknown; actual?: unknown; hint?: string; cause?: string; seconds?: number; leeway_seconds?: number; policy?: string; mismatches?: { field: string; expected: unknown; actual: unknown }[]; trace?: { policy: string; matches_identity: boolean; mismatches: unknown[] }[] };
type Body = { verdict: string; request_id: string; server_time: string; disclosure: string; token?: Record<string, unknown>; request_problems?: { parameter: string; message: string }[]; checks: Check[] };

async function diagnose(harness: Harness, params: Record<string, string>): Promise<Body> {
  const res = await harness.diagnose({ audience: 'argo-prod', ...params });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as Body;
}

function check(body: Body, id: string): Check {
  const found = body.checks.find((c) => c.check === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
}

function failing(body: Body): string[] {
  return body.checks.filter((c) => c.status === 'fail').map((c) => c.check);
}

function segment(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

beforeAll(async () => {
  [github, keycloak, entra, ghe, gitlab] = await Promise.all([
    startLoopbackIdp(),
    startLoopbackIdp({ path: '/realms/platform' }),
    startLoopbackIdp(),
    startLoopbackIdp(),
    startLoopbackIdp(),
  ]);
  signingKeys = await signingKeysEnv();
  h = await buildHarness(config(), { now: NOW, env: signingKeys });
});
afterAll(async () => {
  await Promise.all([github, keycloak, entra, ghe, gitlab].map((idp) => idp.close()));
});

describe('POST /diagnose answers a token that would be issued', () => {
  it('lists every check in the contract order, all passing, with verdict issue and the server time', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()) });
    expect(body.verdict).toBe('issue');
    expect(body.server_time).toBe(SERVER_TIME);
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.disclosure).toBe('full');
    expect(body.checks.map((c) => c.check)).toEqual([...CHECK_IDS]);
    expect(body.checks.map((c) => c.status)).toEqual(CHECK_IDS.map(() => 'pass'));
    expect(body.token).toMatchObject({ alg: 'RS256', iss: github.issuer, sub: 'repo:acme/app:ref:refs/heads/main', aud: 'argo-sts' });
  });

  it('says how Argo takes the credential (Bearer prefix, --auth-mode=client) on the target check', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()) });
    expect(check(body, 'target').hint).toContain('--auth-mode=client');
    expect(check(body, 'target').hint).toContain('ARGO_TOKEN="Bearer ');
  });

  it('warns, and still issues, when the token expired 30 s ago inside a 60 s leeway', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims({ exp: NOW - 30 })) });
    expect(body.verdict).toBe('issue');
    expect(check(body, 'expiry')).toMatchObject({ status: 'warn', seconds: 30, leeway_seconds: 60, cause: 'expiry.within-leeway' });
    expect(check(body, 'expiry').hint).toContain('30 s from now');
  });

  it('warns that requested_ttl 7200 is capped to the policy max_ttl of 900 s', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()), requested_ttl: '7200' });
    expect(body.verdict).toBe('issue');
    expect(check(body, 'scope')).toMatchObject({ status: 'warn', actual: 7200, expected: 900, cause: 'scope.ttl-capped' });
    expect(check(body, 'scope').message).toContain('900 s');
  });
});

describe('time checks name the measured skew, the leeway and the server time', () => {
  it('fails issued_at for a token issued 95 s in the future with a 60 s leeway', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims({ iat: NOW + 95 })) });
    expect(body.verdict).toBe('deny');
    expect(failing(body)).toEqual(['issued_at']);
    const iat = check(body, 'issued_at');
    expect(iat).toMatchObject({ status: 'fail', seconds: 95, leeway_seconds: 60, actual: NOW + 95, cause: 'issued_at.future' });
    expect(iat.message).toContain('issued 95 s in the future');
    expect(iat.message).toContain('leeway 60 s');
    expect(iat.message).toContain(`server time ${SERVER_TIME}`);
    expect(iat.hint).toMatch(/NTP/);
  });

  it('fails expiry for a token that expired 95 s ago, saying how long ago', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims({ exp: NOW - 95 })) });
    expect(failing(body)).toEqual(['expiry']);
    const exp = check(body, 'expiry');
    expect(exp).toMatchObject({ seconds: 95, leeway_seconds: 60, cause: 'expiry.expired' });
    expect(exp.message).toContain('expired 95 s ago');
    expect(exp.message).toContain(new Date((NOW - 95) * 1000).toISOString());
    expect(exp.hint).toContain('fresh token');
  });

  it('fails not_before for a token whose nbf is 61 s in the future', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims({ nbf: NOW + 61 })) });
    expect(failing(body)).toEqual(['not_before']);
    expect(check(body, 'not_before')).toMatchObject({ seconds: 61, leeway_seconds: 60, cause: 'not_before.future' });
    expect(check(body, 'not_before').message).toContain('61 s');
  });

  it('uses the per-idp leeway in force', async () => {
    const tight = await buildHarness(config().replace('preset: github-actions\n', 'preset: github-actions\n    clock_skew: 10s\n'), { now: NOW, env: signingKeys });
    const body = await diagnose(tight, { subject_token: await github.sign(githubClaims({ iat: NOW + 20 })) });
    expect(check(body, 'issued_at')).toMatchObject({ status: 'fail', seconds: 20, leeway_seconds: 10 });
  });
});

describe('format failures are named', () => {
  const cases: [string, () => Promise<string>, string][] = [
    ['an encrypted token (JWE)', async () => 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d', 'format.jwe'],
    ['a token with two segments', async () => 'eyJhbGciOiJSUzI1NiJ9.e30', 'format.segments'],
    ['an opaque GitHub token', async () => 'ghp_0123456789abcdefghijklmnopqrstuvwxyz', 'format.segments'],
    ['a segment that is not base64url', async () => 'eyJhbGciOiJSUzI1NiJ9.e30=.abc', 'format.encoding'],
    ['a payload that is a JSON array, not an object', async () => `${segment({ alg: 'RS256', typ: 'JWT' })}.${segment([1, 2])}.c2ln`, 'format.encoding'],
    ['an unsigned token (alg none)', async () => `${segment({ alg: 'none' })}.${segment(githubClaims())}.`, 'format.unsigned'],
  ];
  for (const [name, token, cause] of cases) {
    it(`fails format for ${name} (${cause})`, async () => {
      const body = await diagnose(h, { subject_token: await token() });
      expect(body.verdict).toBe('deny');
      expect(check(body, 'format')).toMatchObject({ status: 'fail', cause });
      expect(check(body, 'format').hint).toBeTruthy();
      expect(check(body, 'issuer').status).toBe('skip');
    });
  }

  it('fails format for a pasted "Bearer " prefix and still diagnoses the rest of the token', async () => {
    const body = await diagnose(h, { subject_token: `Bearer ${await github.sign(githubClaims())}` });
    expect(failing(body)).toEqual(['format']);
    expect(check(body, 'format')).toMatchObject({ cause: 'format.bearer-prefix' });
    expect(check(body, 'format').hint).toContain('ARGO_TOKEN');
    expect(check(body, 'signature').status).toBe('pass');
    expect(check(body, 'policy').status).toBe('pass');
  });

  it('fails format when no subject_token is sent, and skips the rest', async () => {
    const body = await diagnose(h, {});
    expect(check(body, 'format')).toMatchObject({ status: 'fail', cause: 'format.missing' });
    expect(body.checks.slice(1).every((c) => c.status === 'skip')).toBe(true);
  });

  it('fails format for a token over 16 KiB without decoding it', async () => {
    const body = await diagnose(h, { subject_token: 'a'.repeat(16 * 1024 + 1) });
    expect(check(body, 'format')).toMatchObject({ status: 'fail', cause: 'format.too-large' });
    expect(check(body, 'format').message).toContain('16384');
  });

  it('fails format for a token without sub', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims({ sub: undefined })) });
    expect(check(body, 'format')).toMatchObject({ status: 'fail', cause: 'format.missing-sub' });
  });
});

describe('issuer near misses are named, with the issuer the token nearly names', () => {
  const cases: [string, () => Promise<{ token: string; expected: string }>, string, RegExp][] = [
    ['a trailing slash', async () => ({ token: await github.sign(githubClaims({ iss: `${github.issuer}/` })), expected: github.issuer }), 'issuer.trailing-slash', /exactly/],
    ['https instead of http', async () => ({ token: await github.sign(githubClaims({ iss: github.issuer.replace('http:', 'https:') })), expected: github.issuer }), 'issuer.scheme', /proxy/],
    ['Entra v1 sts.windows.net for a v2 issuer', async () => ({
      token: await entra.sign(fixtureClaims('entra-v1-access-token', NOW, { aud: API_CLIENT_ID })),
      expected: `https://login.microsoftonline.com/${TID}/v2.0`,
    }), 'issuer.entra-version', /accessTokenAcceptedVersion: 2/],
    ['Keycloak /auth/realms (before 17) for /realms', async () => ({
      token: await keycloak.sign(keycloakClaims({ iss: keycloak.issuer.replace('/realms/', '/auth/realms/') })),
      expected: keycloak.issuer,
    }), 'issuer.keycloak-auth-path', /Keycloak 17/],
    ['GitHub without the enterprise slug', async () => ({
      token: await ghe.sign(githubClaims({ iss: 'https://token.actions.githubusercontent.com' })),
      expected: 'https://token.actions.githubusercontent.com/acme-corp',
    }), 'issuer.github-enterprise-slug', /include_enterprise_slug/],
    ['GitLab on another port', async () => ({
      token: await gitlab.sign(fixtureClaims('gitlab-ci', NOW, { iss: 'https://gitlab.example.com:8443' })),
      expected: 'https://gitlab.example.com',
    }), 'issuer.gitlab-host', /external_url/],
  ];
  for (const [name, make, cause, hint] of cases) {
    it(`names ${name} (${cause}) when the token verifies against that issuer's keys`, async () => {
      const { token, expected } = await make();
      const body = await diagnose(h, { subject_token: token });
      expect(body.verdict).toBe('deny');
      const issuer = check(body, 'issuer');
      expect(issuer).toMatchObject({ status: 'fail', cause, expected });
      expect(issuer.hint).toMatch(hint);
      expect(issuer.hint).toContain(expected);
      expect(check(body, 'signature').status).toBe('pass');
      expect(body.disclosure).toBe('full');
    });
  }

  it('names a token minted by argo-sts itself, with the Argo client-mode hint', async () => {
    const exchanged = (await (await h.exchange({ subject_token: await github.sign(githubClaims()), audience: 'argo-prod' })).json()) as { access_token: string };
    const body = await diagnose(h, { subject_token: exchanged.access_token });
    expect(check(body, 'issuer')).toMatchObject({ status: 'fail', cause: 'issuer.own-token' });
    expect(check(body, 'issuer').hint).toContain('--auth-mode=client');
    expect(check(body, 'issuer').hint).toContain('it grants "argo:submit argo:read" in namespace "ci"');
    expect(check(body, 'signature')).toMatchObject({ status: 'pass' });
    expect(check(body, 'signature').message).toContain('a credential this broker minted');
    expect(check(body, 'signature').message).toContain('for another 600 s');
  });

  it('checks the times of an untrusted token with the default leeway', async () => {
    const stranger = await startLoopbackIdp();
    const body = await diagnose(h, { subject_token: await stranger.sign(githubClaims({ iss: stranger.issuer, exp: NOW - 100 })) });
    await stranger.close();
    expect(failing(body)).toEqual(['issuer', 'expiry']);
    expect(check(body, 'expiry')).toMatchObject({ seconds: 100, leeway_seconds: 60 });
    expect(stranger.requests).toEqual({ discovery: 0, jwks: 0 });
  });
});

describe("a preset's named refusals keep their own cause", () => {
  it('names an Entra token from another tenant (tid) at the configured issuer', async () => {
    const claims = fixtureClaims('entra-v2-access-token', NOW, { tid: '00000000-0000-4000-8000-000000000000' });
    const body = await diagnose(h, { subject_token: await entra.sign(claims) });
    expect(check(body, 'issuer')).toMatchObject({ status: 'fail', cause: 'issuer.entra-tid' });
    expect(check(body, 'issuer').hint).toContain('az login --tenant');
  });

  it('names a Keycloak refresh token as a token that is not a credential', async () => {
    const body = await diagnose(h, { subject_token: await keycloak.sign(keycloakClaims({ typ: 'Refresh' })), audience: 'argo-dev' });
    expect(check(body, 'format')).toMatchObject({ status: 'fail', cause: 'format.unsuitable-type' });
  });
});

describe('signature failures are named', () => {
  it('fails signature for a kid the issuer does not publish, naming rotation', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims(), { kid: 'rotated-away', foreignKey: true }) });
    expect(check(body, 'signature')).toMatchObject({ status: 'fail', cause: 'signature.kid-unknown' });
    expect(check(body, 'signature').hint).toMatch(/rotated/);
    expect(check(body, 'signature').hint).toContain('rotated-away');
  });

  it('fails signature for an algorithm the idp does not accept', async () => {
    const full = await buildHarness(config('full').replace('algorithms: [RS256]', 'algorithms: [ES256]'), { now: NOW, env: signingKeys });
    const body = await diagnose(full, { subject_token: await keycloak.sign(keycloakClaims()), audience: 'argo-dev' });
    expect(check(body, 'signature')).toMatchObject({ status: 'fail', cause: 'signature.algorithm', expected: ['ES256'] });
    expect(check(body, 'signature').hint).toContain('RS256');
  });

  it('fails signature when the JWKS is unreachable, and under full says what the fetch answered', async () => {
    const down = await startLoopbackIdp();
    down.setDown(true);
    const full = await buildHarness(config('full', { githubIssuer: down.issuer }), { now: NOW, env: signingKeys });
    const body = await diagnose(full, { subject_token: await down.sign(githubClaims({ iss: down.issuer })) });
    await down.close();
    expect(check(body, 'signature')).toMatchObject({ status: 'fail', cause: 'signature.keys-unavailable' });
    expect(check(body, 'signature').hint).toContain('503');
  });
});

describe('audience failures name the known cause', () => {
  it("names GitHub's default audience (the owner URL) and how to request the right one", async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims({ aud: 'https://github.com/acme' })) });
    expect(failing(body)).toEqual(['audience']);
    expect(check(body, 'audience')).toMatchObject({ cause: 'audience.github-default', actual: 'https://github.com/acme', expected: ['argo-sts'] });
    expect(check(body, 'audience').hint).toContain("core.getIDToken('argo-sts')");
  });

  it("names Keycloak's missing audience mapper for aud 'account'", async () => {
    const body = await diagnose(h, { subject_token: await keycloak.sign(keycloakClaims({ aud: 'account' })), audience: 'argo-dev' });
    expect(check(body, 'audience')).toMatchObject({ status: 'fail', cause: 'audience.keycloak-no-mapper' });
    expect(check(body, 'audience').hint).toMatch(/Audience/);
  });

  it("names Entra's api:// App ID URI vs the client-id GUID", async () => {
    const claims = fixtureClaims('entra-v2-access-token', NOW, { aud: 'api://argo-sts' });
    const body = await diagnose(h, { subject_token: await entra.sign(claims) });
    expect(check(body, 'audience')).toMatchObject({ status: 'fail', cause: 'audience.entra-uri-vs-guid', actual: 'api://argo-sts', expected: [API_CLIENT_ID] });
    expect(check(body, 'audience').hint).toContain('accessTokenAcceptedVersion');
  });
});

describe('policy, target, namespace and scope say what was asked and what is allowed', () => {
  it('fails policy with the nearest policy, its failing clauses and the trace of its idp\'s policies (reveal: full)', async () => {
    // Under reveal: verified a GitHub token outside every policy learns none of this (shared issuer).
    const full = await buildHarness(config('full'), { now: NOW, env: signingKeys });
    const body = await diagnose(full, { subject_token: await github.sign(githubClaims({ sub: 'repo:acme/app:ref:refs/heads/dev', repository_owner: 'evil' })) });
    expect(failing(body)).toEqual(['policy']);
    const policy = check(body, 'policy');
    // ci-read-any-branch fails one clause (the owner), ci-main two (subject and owner).
    expect(policy.policy).toBe('ci-read-any-branch');
    expect(policy.mismatches).toEqual([{ field: 'claims.repository_owner', expected: 'acme', actual: 'evil' }]);
    expect(policy.trace?.map((t) => t.policy)).toEqual(['ci-read-any-branch', 'ci-main']);
    expect(policy.trace?.[1]?.mismatches).toEqual([
      { field: 'subject', expected: 'repo:acme/app:ref:refs/heads/main', actual: 'repo:acme/app:ref:refs/heads/dev' },
      { field: 'claims.repository_owner', expected: 'acme', actual: 'evil' },
    ]);
    expect(policy.hint).toContain('ci-read-any-branch');
  });

  it('fails policy for an actor the delegation rule does not name, with the failing clause', async () => {
    const body = await diagnose(h, {
      subject_token: await keycloak.sign(keycloakClaims()),
      actor_token: await keycloak.sign(keycloakClaims({ sub: 'agent-9' })),
      actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      audience: 'argo-dev',
    });
    expect(failing(body)).toEqual(['policy']);
    expect(check(body, 'policy')).toMatchObject({
      cause: 'policy.delegation',
      policy: 'people',
      mismatches: [{ field: 'delegation.actors[0].subject', expected: 'agent-7', actual: 'agent-9' }],
    });
  });

  it('fails policy when the actor token itself is refused, saying which check', async () => {
    const body = await diagnose(h, {
      subject_token: await keycloak.sign(keycloakClaims()),
      actor_token: await keycloak.sign(keycloakClaims({ sub: 'agent-7', exp: NOW - 300 })),
      actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      audience: 'argo-dev',
    });
    expect(check(body, 'policy')).toMatchObject({ status: 'fail', cause: 'policy.actor-token' });
    expect(check(body, 'policy').message).toMatch(/^actor_token: the token expired 300 s ago/);
  });

  it('also names an unknown target and an unknown scope when the identity matches no policy (reveal: full)', async () => {
    const full = await buildHarness(config('full'), { now: NOW, env: signingKeys });
    const body = await diagnose(full, { subject_token: await github.sign(githubClaims({ repository_owner: 'evil' })), audience: 'prod', scope: 'argo:admin' });
    expect(failing(body)).toEqual(['policy', 'target', 'scope']);
    expect(check(body, 'target')).toMatchObject({ cause: 'target.unknown', actual: 'prod', expected: ['argo-prod', 'argo-dev'] });
    expect(check(body, 'scope')).toMatchObject({ cause: 'scope.unknown', actual: ['argo:admin'] });
  });

  it('fails scope for an escalation, with what the policy allows', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()), scope: 'argo:manage' });
    expect(failing(body)).toEqual(['scope']);
    expect(check(body, 'scope')).toMatchObject({ cause: 'scope.not-allowed', actual: ['argo:manage'], expected: ['argo:submit', 'argo:read'] });
  });

  it('names, on a passing policy check, the identity-matching policy with the fewest failing clauses', async () => {
    // ci-main allows argo:submit but not namespace staging; ci-read-any-branch staging but not argo:submit.
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()), namespace: 'staging', scope: 'argo:submit' });
    expect(failing(body)).toEqual(['scope']);
    expect(check(body, 'policy')).toMatchObject({
      status: 'pass',
      policy: 'ci-main',
      mismatches: [{ field: 'namespaces', expected: ['ci'], actual: 'staging' }],
    });
    const granted = await diagnose(h, { subject_token: await github.sign(githubClaims()), namespace: 'staging' });
    expect(check(granted, 'policy')).toMatchObject({ status: 'pass', policy: 'ci-read-any-branch', mismatches: [] });
  });

  it('passes namespace for an explicitly allowed namespace when scope fails', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()), namespace: 'ci', scope: 'argo:manage' });
    expect(failing(body)).toEqual(['scope']);
    expect(check(body, 'namespace')).toMatchObject({ status: 'pass', actual: 'ci' });
  });

  it('fails namespace for one outside the policy', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()), namespace: 'kube-system' });
    expect(failing(body)).toEqual(['namespace']);
    expect(check(body, 'namespace')).toMatchObject({ cause: 'namespace.not-allowed', actual: 'kube-system', expected: ['ci'] });
  });

  it('fails target for an unknown audience, listing the targets', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()), audience: 'https://k8s.example.com' });
    expect(check(body, 'target')).toMatchObject({ status: 'fail', cause: 'target.unknown', expected: ['argo-prod', 'argo-dev'] });
  });

  it('fails target when the audience is omitted and several targets exist', async () => {
    const res = await h.app.request('/diagnose', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subject_token: await github.sign(githubClaims()) }) });
    const body = (await res.json()) as Body;
    expect(check(body, 'target')).toMatchObject({ status: 'fail', cause: 'target.omitted' });
  });

  it('lists parameters /token would refuse that no check covers', async () => {
    const body = await diagnose(h, { subject_token: await github.sign(githubClaims()), grant_type: 'client_credentials', requested_ttl: '10m' });
    expect(body.verdict).toBe('deny');
    expect(body.request_problems?.map((p) => p.parameter)).toEqual(['grant_type', 'requested_ttl']);
  });
});

describe('disclosure (diagnose.reveal)', () => {
  it('verified: a token signed by an unconfigured key learns no expected value, policy or trace', async () => {
    const forged = await github.sign(githubClaims({ sub: 'repo:evil/app:ref:refs/heads/main', aud: 'guess' }), { foreignKey: true, kid: 'attacker' });
    const body = await diagnose(h, { subject_token: forged, scope: 'argo:manage' });
    expect(body.verdict).toBe('deny');
    expect(body.disclosure).toBe('summarized');
    expect(check(body, 'signature').status).toBe('fail');
    for (const c of body.checks) {
      expect(c.expected).toBeUndefined();
      expect(c.policy).toBeUndefined();
      expect(c.mismatches).toBeUndefined();
      expect(c.trace).toBeUndefined();
    }
    for (const id of ['audience', 'policy', 'target', 'namespace', 'scope']) expect(check(body, id).status).toBe('skip');
    const text = JSON.stringify(body);
    for (const secret of ['ci-main', 'argo:submit', 'repo:acme', 'kubernetes', 'acme-corp']) expect(text).not.toContain(secret);
    // Facts about the presented token are always shown.
    expect(body.token).toMatchObject({ sub: 'repo:evil/app:ref:refs/heads/main', aud: 'guess', kid: 'attacker' });
    expect(check(body, 'audience').actual).toBe('guess');
  });

  it('verified: a forged token naming a near-miss issuer learns neither the configured issuer nor the hint', async () => {
    const forged = await keycloak.sign(keycloakClaims({ iss: 'https://token.actions.githubusercontent.com' }), { foreignKey: true });
    const body = await diagnose(h, { subject_token: forged });
    expect(check(body, 'issuer')).toMatchObject({ status: 'fail', actual: 'https://token.actions.githubusercontent.com' });
    expect(check(body, 'issuer').expected).toBeUndefined();
    expect(check(body, 'issuer').hint).toBeUndefined();
    expect(check(body, 'signature').status).toBe('skip');
    expect(JSON.stringify(body)).not.toContain('acme-corp');
  });

  it('verified: a genuine token nearly naming a shared issuer, whose identity matches none of its policies, learns neither the issuer nor the hint', async () => {
    const stranger = await ghe.sign(githubClaims({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:evil/x:ref:refs/heads/main', repository_owner: 'evil' }));
    const body = await diagnose(h, { subject_token: stranger });
    expect(check(body, 'signature').status).toBe('pass');
    expect(body.disclosure).toBe('summarized');
    expect(check(body, 'issuer').expected).toBeUndefined();
    expect(check(body, 'issuer').hint).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain('acme-corp');
    expect(JSON.stringify(body)).not.toContain('ghe-ci');
  });

  it('full: the same forged token gets expected values and the policy trace', async () => {
    const full = await buildHarness(config('full'), { now: NOW, env: signingKeys });
    const forged = await github.sign(githubClaims({ sub: 'repo:evil/app:ref:refs/heads/main' }), { foreignKey: true });
    const body = await diagnose(full, { subject_token: forged });
    expect(body.disclosure).toBe('full');
    expect(check(body, 'audience').expected).toEqual(['argo-sts']);
    expect(check(body, 'policy')).toMatchObject({ status: 'fail', policy: 'ci-main' });
    expect(check(body, 'policy').trace).toBeDefined();
  });

  it('basic: a genuine token gets its failing checks and token facts, never expected values or the trace', async () => {
    const basic = await buildHarness(config('basic'), { now: NOW, env: signingKeys });
    const body = await diagnose(basic, { subject_token: await github.sign(githubClaims({ repository_owner: 'evil', iat: NOW + 95 })) });
    expect(body.disclosure).toBe('summarized');
    expect(failing(body)).toEqual(['issued_at', 'policy']);
    expect(check(body, 'issued_at')).toMatchObject({ seconds: 95, leeway_seconds: 60, cause: 'issued_at.future' });
    const policy = check(body, 'policy');
    expect(policy.policy).toBeUndefined();
    expect(policy.mismatches).toBeUndefined();
    expect(policy.hint).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain('ci-main');
  });
});

describe('hostile tokens', () => {
  it('answers 200 with all eleven checks for any claim values a signed token can carry', async () => {
    const value = fc.oneof(fc.jsonValue(), fc.constantFrom(NOW, NOW + 95, -1, 1e300, '', 'account', github.issuer, `${github.issuer}/`));
    await fc.assert(
      fc.asyncProperty(fc.record({ iss: value, sub: value, aud: value, exp: value, iat: value, nbf: value, scope: value }, { requiredKeys: [] }), fc.boolean(), async (claims, foreign) => {
        const token = await github.sign(githubClaims(claims), { foreignKey: foreign });
        const body = await diagnose(h, { subject_token: token });
        expect(body.checks.map((c) => c.check)).toEqual([...CHECK_IDS]);
        expect(['issue', 'deny']).toContain(body.verdict);
      }),
      { numRuns: 150 },
    );
    expect(h.errors.filter((e) => e.includes('unexpected error'))).toEqual([]);
  });
});

describe('the HTTP contract', () => {
  it('answers 400 only for a body it cannot parse', async () => {
    const bad = await h.app.request('/diagnose', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"subject_token":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request', check: 'request' });
    const wrongType = await h.app.request('/diagnose', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(wrongType.status).toBe(400);
  });

  it('audits one event per call, marked diagnosed, with the token hash and never the token', async () => {
    const token = await github.sign(githubClaims({ iat: NOW + 95 }));
    const before = h.audits().length;
    await diagnose(h, { subject_token: token });
    const events = h.audits().slice(before);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ endpoint: 'diagnose', decision: 'diagnosed', check: 'issued_at', idp: 'github', target: 'argo-prod' });
    expect(events[0]!.subject_token_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(h.lines)).not.toContain(token);
  });

  it('audits an unparseable body too', async () => {
    const before = h.audits().length;
    await h.app.request('/diagnose', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[' });
    expect(h.audits().slice(before)).toMatchObject([{ endpoint: 'diagnose', decision: 'diagnosed', check: 'request' }]);
  });

  it('never issues, and never echoes the token', async () => {
    const res = await h.diagnose({ subject_token: await github.sign(githubClaims()), audience: 'argo-prod' });
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['checks', 'disclosure', 'request_id', 'reveal', 'server_time', 'token', 'verdict']);
    expect(JSON.stringify(body)).not.toContain('eyJ');
  });

  it('points /token refusals to /diagnose without changing the error code or check', async () => {
    const res = await h.exchange({ subject_token: await github.sign(githubClaims({ iat: NOW + 95 })), audience: 'argo-prod' });
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({ error: 'invalid_request', check: 'issued_at' });
    expect(body.error_description).toContain('95 s in the future');
    expect(body.error_description).toContain('/diagnose');
  });

  it('serves the page with a strict, nonce-based Content-Security-Policy', async () => {
    const res = await h.app.request('/diagnose');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy')!;
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/);
    const again = await h.app.request('/diagnose');
    expect(again.headers.get('content-security-policy')).not.toBe(csp);
  });
});
