/**
 * The jwt-bearer grant in real workerd: an ID-JAG obtained from the loopback enterprise IdP by
 * token exchange (as draft-ietf-oauth-identity-assertion-authz-grant-04 says), redeemed once;
 * and a ServiceAccount token as the assertion.
 */
import { SELF } from 'cloudflare:test';
import { importJWK, SignJWT } from 'jose';
import { describe, expect, it, inject } from 'vitest';
import { requestIdJag } from '../support/id-jag-client.ts';
import { postForm } from './post-token.ts';
import { signServiceAccount } from './signed-workload.ts';

const BROKER = 'https://sts.workers.test';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

async function aliceIdJag(scope = 'argo:read'): Promise<string> {
  const issuer = inject('idJagIssuer');
  const jwk = JSON.parse(inject('idJagPrivateJwk'));
  const now = Math.floor(Date.now() / 1000);
  const idToken = await new SignJWT({ iss: issuer, sub: 'alice', aud: 'mcp-agent', iat: now, exp: now + 300 })
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
    .sign(await importJWK(jwk, 'ES256'));
  return requestIdJag({ tokenEndpoint: `${issuer}/token` }, { clientId: 'mcp-agent', clientSecret: 's3cret', idToken, audience: BROKER, resource: 'argo-prod', scope });
}

function redeem(params: Record<string, string>) {
  return postForm('/token', new URLSearchParams({ grant_type: JWT_BEARER, ...params }));
}

describe('jwt-bearer in workerd', () => {
  it('redeems an ID-JAG once, and refuses its replay with invalid_grant', async () => {
    const assertion = await aliceIdJag();
    const first = await redeem({ assertion, client_id: 'mcp-agent' });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ scope: 'argo:read', namespace: 'dev' });
    const replay = await redeem({ assertion });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a scope beyond the ID-JAG and a foreign client_id', async () => {
    expect(await (await redeem({ assertion: await aliceIdJag(), scope: 'argo:submit' })).json()).toMatchObject({ error: 'invalid_scope' });
    expect(await (await redeem({ assertion: await aliceIdJag(), client_id: 'intruder' })).json()).toMatchObject({ error: 'invalid_grant', check: 'format' });
  });

  it('redeems a ServiceAccount token as a workload assertion', async () => {
    const res = await redeem({ assertion: await signServiceAccount() });
    expect(res.status).toBe(200);
  });

  it('lists both grant types in discovery', async () => {
    const doc = (await (await SELF.fetch(`${BROKER}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(doc.grant_types_supported).toContain(JWT_BEARER);
  });
});

describe('/diagnose with the jwt-bearer grant in workerd', () => {
  it('explains an ID-JAG as issue without spending it, and a foreign client_id as a format failure', async () => {
    const assertion = await aliceIdJag();
    const good = (await (await postForm('/diagnose', new URLSearchParams({ grant_type: JWT_BEARER, assertion }))).json()) as { verdict: string };
    expect(good.verdict).toBe('issue');
    expect((await redeem({ assertion })).status).toBe(200);
    const bad = (await (await postForm('/diagnose', new URLSearchParams({ grant_type: JWT_BEARER, assertion: await aliceIdJag(), client_id: 'intruder' }))).json()) as { verdict: string; checks: { check: string; status: string }[] };
    expect(bad.verdict).toBe('deny');
    expect(bad.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual(['format']);
  });
});
