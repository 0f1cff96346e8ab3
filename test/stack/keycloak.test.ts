/**
 * Keycloak's real token shapes (Keycloak 26 in dev mode, realm infra/keycloak/realm-stack.json)
 * through argo-sts's `keycloak` preset: the realm issuer, azp, groups with and without full
 * paths, the audience-mapper trap, email_verified, and the client-credentials subject.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { argoSts, claimsOf, clientCredentialsGrant, keycloakIssuer, passwordGrant, removeScratch, stack, TARGETS } from './support.ts';
import { httpsGet } from './stack.ts';

afterAll(removeScratch);

async function exchange(token: string, args: string[], tokenType = 'access_token') {
  const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', TARGETS.oidc, '--token-env', 'KC_TOKEN', '--token-type', tokenType, '--json', ...args], { KC_TOKEN: token });
  return { ...r, issued: r.code === 0 ? (JSON.parse(r.stdout) as { access_token: string; scope: string; namespace: string }) : undefined };
}

describe("Keycloak's real tokens", () => {
  it('an access token: realm issuer, azp the client, aud from the audience mapper, bare group names, a UUID sub', async () => {
    const { access_token } = await passwordGrant('argo-cli', 'alice');
    const claims = claimsOf(access_token);
    expect(claims.iss).toBe(keycloakIssuer);
    expect(new URL(claims.iss).pathname).toBe('/realms/stack');
    expect(claims.typ).toBe('Bearer');
    expect(claims.azp).toBe('argo-cli');
    expect(claims.aud).toBe('argo-sts');
    expect(claims.sub).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // Full group path off: a nested group is its bare name, indistinguishable from a top-level one.
    expect([...claims.groups].sort()).toEqual(['oncall', 'platform-engineers']);

    const { issued, stderr } = await exchange(access_token, ['--namespace', 'team-a', '--scope', 'argo:read']);
    expect(stderr).toBe('');
    const minted = claimsOf(issued!.access_token);
    expect(minted.sub).toBe(`keycloak:${claims.sub as string}`);
    expect(minted.preferred_username).toBe('alice');
    expect(minted.email).toBe('alice@example.com');
    expect(minted.email_verified).toBe(true);
    expect(minted.groups).toEqual(['argo-sts:team-a:argo:read']);
  });

  it('an ID token (typ ID, aud the client and argo-sts) is accepted as id_token', async () => {
    const { id_token } = await passwordGrant('argo-cli', 'alice');
    const claims = claimsOf(id_token!);
    expect(claims.typ).toBe('ID');
    expect([...claims.aud].sort()).toEqual(['argo-cli', 'argo-sts']);
    const { issued, stderr } = await exchange(id_token!, ['--namespace', 'team-a', '--scope', 'argo:read'], 'id_token');
    expect(stderr).toBe('');
    expect(issued!.scope).toBe('argo:read');
  });

  it('groups as full paths (/platform-engineers, /platform-engineers/oncall) still match a policy on the top-level name', async () => {
    const { access_token } = await passwordGrant('argo-cli-full-path', 'alice');
    expect([...claimsOf(access_token).groups].sort()).toEqual(['/platform-engineers', '/platform-engineers/oncall']);
    const { issued, stderr } = await exchange(access_token, ['--namespace', 'team-a', '--scope', 'argo:submit']);
    expect(stderr).toBe('');
    expect(issued!.namespace).toBe('team-a');
  });

  it('the audience-mapper trap: a client without the mapper issues tokens with no aud at all, and the broker says what to add', async () => {
    const { access_token } = await passwordGrant('no-audience', 'alice');
    expect(claimsOf(access_token).aud).toBeUndefined();
    const r = await exchange(access_token, ['--namespace', 'team-a']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid_request');
    expect(r.stderr).toMatch(/audience/i);
    expect(r.stderr).toMatch(/mapper/i);
  });

  it('mints email only where Keycloak says email_verified: true', async () => {
    const { access_token } = await passwordGrant('argo-cli', 'bob');
    expect(claimsOf(access_token).email_verified).toBe(false);
    const { issued, stderr } = await exchange(access_token, ['--namespace', 'team-b']);
    expect(stderr).toBe('');
    const minted = claimsOf(issued!.access_token);
    expect(minted.preferred_username).toBe('bob');
    expect(minted.email).toBeUndefined();
    expect(minted.email_verified).toBeUndefined();
  });

  it('Argo Server reads the minted email as verified', async () => {
    const { access_token } = await passwordGrant('argo-cli', 'alice');
    const { issued } = await exchange(access_token, ['--namespace', 'team-a', '--scope', 'argo:read']);
    const info = await httpsGet(`${stack.argo.server}/api/v1/userinfo`, { ca: stack.argo.ca_file }, { authorization: `Bearer ${issued!.access_token}` });
    expect(info.status).toBe(200);
    const body = JSON.parse(info.body) as Record<string, unknown>;
    expect(body).toMatchObject({ subject: `keycloak:${claimsOf(access_token).sub as string}`, email: 'alice@example.com', emailVerified: true });
  });

  it("the client-credentials token: sub is the service-account user's UUID, not the client id", async () => {
    const { access_token } = await clientCredentialsGrant('agent-ci');
    const claims = claimsOf(access_token);
    expect(claims.sub).toMatch(/^[0-9a-f-]{36}$/);
    expect(claims.sub).not.toBe('agent-ci');
    expect(claims.azp).toBe('agent-ci');
    expect(claims.client_id).toBe('agent-ci');
    expect(claims.preferred_username).toBe('service-account-agent-ci');
    expect([...claims.aud].sort()).toEqual(['account', 'argo-sts']);
    // No policy is written for the agent alone: its own token gets nothing.
    const r = await exchange(access_token, ['--namespace', 'team-a']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid_request');
  });
});
