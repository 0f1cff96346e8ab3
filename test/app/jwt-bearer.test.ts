/**
 * The jwt-bearer grant (RFC 7523) with an ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant-04)
 * from a loopback enterprise IdP that issues them by token exchange as the draft says, and with
 * a workload JWT of a kubernetes idp: same verification order, policy, minting and audit as
 * token exchange; assertion refusals are invalid_grant; an ID-JAG is spent once.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { type IdJagIssuer, requestIdJag, startIdJagIssuer } from '../support/id-jag-issuer.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
const BROKER = 'https://sts.test.example';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
let enterprise: IdJagIssuer;
let cluster: LoopbackIdp;
let h: Harness;

beforeAll(async () => {
  enterprise = await startIdJagIssuer({ clients: { 'mcp-agent': 's3cret', 'other-app': 'x' }, now: () => NOW });
  cluster = await startLoopbackIdp({ path: '/k8s' });
  h = await buildHarness(`
issuer: ${BROKER}
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: corp, issuer: ${enterprise.issuer}, audiences: [argo-sts] }
  - { name: cluster, issuer: ${cluster.issuer}, audiences: [argo-sts], preset: kubernetes }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: prod }
  - { name: argo-dev, kind: kubernetes-oidc, audience: dev }
policies:
  - { id: alice-via-agent, idp: corp, subject: alice, claims: { client_id: mcp-agent }, target: [argo-prod, argo-dev], namespaces: [dev], scopes: [argo:read, argo:submit] }
  - { id: release-agent, idp: cluster, claims: { namespace: agents, serviceaccount: release-agent }, target: argo-dev, namespaces: [ci], scopes: [argo:read] }
`, { now: NOW, env: await signingKeysEnv() });
});
afterAll(async () => {
  await Promise.all([enterprise.close(), cluster.close()]);
});

async function idJag(params: { clientId?: string; sub?: string; resource?: string; scope?: string; audience?: string } = {}) {
  const clientId = params.clientId ?? 'mcp-agent';
  return requestIdJag(enterprise, {
    clientId,
    clientSecret: clientId === 'mcp-agent' ? 's3cret' : 'x',
    idToken: await enterprise.idToken(params.sub ?? 'alice', clientId),
    audience: params.audience ?? BROKER,
    resource: params.resource ?? 'argo-prod',
    scope: params.scope ?? 'argo:read',
  });
}

async function redeem(params: Record<string, string>) {
  const res = await h.app.request('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: JWT_BEARER, ...params }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe('jwt-bearer with an ID-JAG', () => {
  it('redeems an ID-JAG for a credential scoped to its resource and scope, and audits it', async () => {
    const assertion = await idJag();
    const { status, body } = await redeem({ assertion, client_id: 'mcp-agent' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'argo:read', namespace: 'dev' });
    const minted = decodeJwt(body.access_token!);
    expect(minted).toMatchObject({ sub: 'corp:alice', aud: 'prod', scope: 'argo:read' });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', idp: 'corp', sub: 'alice', policy: 'alice-via-agent', target: 'argo-prod' });
    expect(JSON.stringify(h.lines)).not.toContain(assertion);
  });

  it('spends an ID-JAG once: the replay is invalid_grant', async () => {
    const assertion = await idJag();
    expect((await redeem({ assertion })).status).toBe(200);
    const replay = await redeem({ assertion });
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant', check: 'format' } });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: 'ERR_TOKEN_REPLAYED' });
  });

  it('asks for less than the ID-JAG grants, never more', async () => {
    const assertion = await idJag({ scope: 'argo:read argo:submit' });
    const less = await redeem({ assertion, scope: 'argo:submit' });
    expect(less.body.scope).toBe('argo:submit');
    const more = await redeem({ assertion: await idJag({ scope: 'argo:read' }), scope: 'argo:submit' });
    expect(more).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('refuses a request naming another target than the ID-JAG resource with invalid_target', async () => {
    const res = await redeem({ assertion: await idJag({ resource: 'argo-prod' }), audience: 'argo-dev' });
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_target', check: 'target' } });
  });

  it('refuses an ID-JAG for another authorization server (aud) with invalid_grant, check audience', async () => {
    const res = await redeem({ assertion: await idJag({ audience: 'https://other-as.example' }) });
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_grant', check: 'audience' } });
  });

  it("refuses a client_id that is not the ID-JAG's", async () => {
    const res = await redeem({ assertion: await idJag(), client_id: 'other-app' });
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_grant', check: 'format' } });
    expect(h.audits().at(-1)).toMatchObject({ error: 'ERR_ID_JAG_CLIENT_MISMATCH' });
  });

  it('lets policies match client_id: another client of the same IdP gets nothing', async () => {
    const res = await redeem({ assertion: await idJag({ clientId: 'other-app' }) });
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_grant', check: 'policy' } });
  });

  it('refuses hostile ID-JAGs with 4xx: no client_id, no jti, several audiences, a non-ID-JAG typ from a non-workload idp', async () => {
    const base = { iss: enterprise.issuer, sub: 'alice', aud: BROKER, client_id: 'mcp-agent', jti: 'j', exp: NOW + 60, iat: NOW, scope: 'argo:read', resource: 'argo-prod' };
    const cases: [Record<string, unknown>, string | undefined, string][] = [
      [{ ...base, client_id: undefined, jti: 'a' }, 'oauth-id-jag+jwt', 'format'],
      [{ ...base, jti: undefined }, 'oauth-id-jag+jwt', 'format'],
      [{ ...base, jti: 'b', aud: [BROKER, 'https://x.example'] }, 'oauth-id-jag+jwt', 'audience'],
      [{ ...base, jti: 'c', scope: 7 }, 'oauth-id-jag+jwt', 'format'],
      [{ ...base, jti: 'd', aud: 'argo-sts' }, 'JWT', 'format'],
      [{ ...base, jti: 'e', exp: NOW - 3600 }, 'oauth-id-jag+jwt', 'expiry'],
    ];
    for (const [claims, typ, check] of cases) {
      const res = await redeem({ assertion: await enterprise.sign(claims, typ) });
      expect({ status: res.status, error: res.body.error, check: res.body.check }).toEqual({ status: 400, error: 'invalid_grant', check });
    }
  });

  it('refuses malformed jwt-bearer requests with invalid_request', async () => {
    expect(await redeem({})).toMatchObject({ status: 400, body: { error: 'invalid_request', check: 'request' } });
    const mixed = await redeem({ assertion: await idJag(), subject_token: 'x', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
    expect(mixed).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await redeem({ assertion: 'not.a.jwt' })).toMatchObject({ status: 400, body: { error: 'invalid_grant', check: 'format' } });
    expect(await redeem({ assertion: 'x'.repeat(17 * 1024) })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });
});

describe('jwt-bearer with a workload JWT', () => {
  it('redeems a ServiceAccount token of a kubernetes idp', async () => {
    const assertion = await cluster.sign(fixtureClaims('kubernetes-serviceaccount', NOW, { iss: cluster.issuer }));
    const { status, body } = await redeem({ assertion, audience: 'argo-dev' });
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token!)).toMatchObject({ sub: 'cluster:system:serviceaccount:agents:release-agent', aud: 'dev' });
  });
});

describe('discovery', () => {
  it('lists both grant types', async () => {
    const doc = (await (await h.app.request('/.well-known/openid-configuration')).json()) as { grant_types_supported: string[] };
    expect(doc.grant_types_supported).toEqual(['urn:ietf:params:oauth:grant-type:token-exchange', JWT_BEARER]);
  });
});

describe('/diagnose with the jwt-bearer grant', () => {
  async function diagnose(params: Record<string, string>) {
    const res = await h.diagnose({ grant_type: JWT_BEARER, ...params });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { verdict: string; checks: { check: string; status: string; message: string }[] };
    return { verdict: body.verdict, failing: body.checks.filter((c) => c.status === 'fail').map((c) => c.check), checks: body.checks };
  }

  it('explains a good ID-JAG as issue, without spending it', async () => {
    const assertion = await idJag();
    expect(await diagnose({ assertion })).toMatchObject({ verdict: 'issue', failing: [] });
    expect((await redeem({ assertion })).status).toBe(200);
  });

  it('names the failing checks of a refused ID-JAG: audience, client_id, resource', async () => {
    expect((await diagnose({ assertion: await idJag({ audience: 'https://other-as.example' }) })).failing).toContain('audience');
    const client = await diagnose({ assertion: await idJag(), client_id: 'other-app' });
    expect(client.failing).toEqual(['format']);
    expect(client.checks.find((c) => c.check === 'format')!.message).toContain('client_id');
    expect((await diagnose({ assertion: await idJag(), audience: 'argo-dev' })).failing).toEqual(['target']);
  });

  it('explains a plain JWT from a non-workload idp as the wrong kind of assertion', async () => {
    const plain = await enterprise.sign({ iss: enterprise.issuer, sub: 'alice', aud: 'argo-sts', exp: NOW + 60, iat: NOW });
    const result = await diagnose({ assertion: plain, audience: 'argo-prod' });
    expect(result.failing).toContain('format');
    expect(result.checks.find((c) => c.check === 'format')!.message).toContain('ID-JAG');
  });
});
