/**
 * Approval for risky scopes: a request for an approval scope answers authorization_pending with
 * approval_id, approval_uri, interval and expires_in; a named approver decides with their own IdP
 * token; the next poll is issued once; self-approval, strangers, denial and expiry are refused;
 * every step is audited.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let keycloak: LoopbackIdp;
let h: Harness;

function config(): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: keycloak, issuer: ${keycloak.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: people
    idp: keycloak
    target: argo
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:read, argo:manage]
    delegation:
      actors:
        - { idp: keycloak, subject: agent-7 }
    approval:
      scopes: [argo:manage]
      approvers:
        - { idp: keycloak, claims: { groups: oncall } }
      ttl: 5m
`;
}

const person = (sub: string, groups: string[]) => fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer, sub, groups });
const alice = () => person('alice', ['platform-engineers', 'oncall']);
const bob = () => person('bob', ['oncall']);
const agent = () => person('agent-7', []);

async function ask(params: Record<string, string> = {}) {
  const res = await h.exchange({
    audience: 'argo',
    subject_token: await keycloak.sign(alice()),
    actor_token: await keycloak.sign(agent()),
    actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    scope: 'argo:manage',
    reason: 'restart the stuck nightly build',
    ...params,
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function decide(id: string, decision: string, claims: Record<string, unknown>) {
  const res = await h.app.request(`/approvals/${id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ decision, subject_token: await keycloak.sign(claims) }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

beforeAll(async () => {
  keycloak = await startLoopbackIdp({ path: '/realms/platform' });
  h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv() });
});
afterAll(() => keycloak.close());

describe('approval for risky scopes', () => {
  it('issues scopes outside approval.scopes without asking', async () => {
    const { status } = await ask({ scope: 'argo:read' });
    expect(status).toBe(200);
  });

  it('answers authorization_pending, an approver approves, and the poll is issued once', async () => {
    const pending = await ask();
    expect(pending.status).toBe(400);
    expect(pending.body).toMatchObject({ error: 'authorization_pending', check: 'approval', interval: 5, expires_in: 300 });
    const id = pending.body.approval_id as string;
    expect(pending.body.approval_uri).toBe(`https://sts.test.example/approvals/${id}`);
    expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: 'ERR_AUTHORIZATION_PENDING', approval_id: id, sub: 'alice', actor: 'keycloak:agent-7', request_reason: 'restart the stuck nightly build' });

    const page = await h.app.request(`/approvals/${id}`, { headers: { accept: 'application/json' } });
    expect(await page.json()).toMatchObject({ status: 'pending', requester: 'keycloak:alice', actor: 'keycloak:agent-7', scopes: ['argo:manage'], namespace: 'dev', ttl_seconds: 600, reason: 'restart the stuck nightly build' });

    expect((await ask({ approval_id: id })).body).toMatchObject({ error: 'authorization_pending', approval_id: id });
    expect(await decide(id, 'approve', bob())).toEqual({ status: 200, body: { approval_id: id, status: 'approved' } });
    expect(h.audits().at(-1)).toMatchObject({ endpoint: 'approval', decision: 'approved', sub: 'bob', approval_id: id, policy: 'people' });

    const issued = await ask({ approval_id: id });
    expect(issued.status).toBe(200);
    expect(decodeJwt(issued.body.access_token)).toMatchObject({ scope: 'argo:manage', act: { sub: 'keycloak:agent-7' } });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', approval_id: id });
    const again = await ask({ approval_id: id });
    expect(again).toMatchObject({ status: 400, body: { error: 'invalid_request', check: 'approval' } });
  });

  it('refuses self-approval, even by a person the policy names as approver', async () => {
    const { body } = await ask();
    const self = await decide(body.approval_id, 'approve', alice());
    expect(self).toMatchObject({ status: 403, body: { error: 'access_denied', check: 'approval' } });
    expect(self.body.error_description).toContain('own request');
    const byAgent = await decide(body.approval_id, 'approve', agent());
    expect(byAgent.status).toBe(403);
  });

  it('refuses an approver the policy does not name', async () => {
    const { body } = await ask();
    expect(await decide(body.approval_id, 'approve', person('mallory', ['platform-engineers']))).toMatchObject({ status: 403, body: { error: 'access_denied' } });
  });

  it('answers access_denied after a denial, and decides only once', async () => {
    const { body } = await ask();
    expect((await decide(body.approval_id, 'deny', bob())).body.status).toBe('denied');
    expect(h.audits().at(-1)).toMatchObject({ endpoint: 'approval', decision: 'denied', sub: 'bob' });
    expect((await ask({ approval_id: body.approval_id })).body).toMatchObject({ error: 'access_denied' });
    expect((await decide(body.approval_id, 'approve', bob())).status).toBe(400);
  });

  it('answers expired_token once the approval expired', async () => {
    const { body } = await ask();
    await decide(body.approval_id, 'approve', bob());
    h.setNow(NOW + 301);
    try {
      const late = await ask({ approval_id: body.approval_id });
      expect(late.body).toMatchObject({ error: 'expired_token', check: 'approval' });
    } finally {
      h.setNow(NOW);
    }
  });

  it('refuses a poll that is not the same request, and hostile ids and forms with 4xx', async () => {
    const { body } = await ask();
    expect((await ask({ approval_id: body.approval_id, scope: 'argo:manage argo:read' })).body).toMatchObject({ error: 'invalid_request', check: 'approval' });
    expect((await ask({ approval_id: 'not-a-uuid' })).status).toBe(400);
    expect((await h.app.request('/approvals/not-a-uuid')).status).toBe(404);
    expect((await h.app.request(`/approvals/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await decide(body.approval_id, 'maybe', bob())).status).toBe(400);
    const noToken = await h.app.request(`/approvals/${body.approval_id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'decision=approve' });
    expect(noToken.status).toBe(400);
    const forged = await h.app.request(`/approvals/${body.approval_id}`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ decision: 'approve', subject_token: await keycloak.sign(bob(), { foreignKey: true }) }).toString(),
    });
    expect(forged.status).toBe(400);
    expect((await h.app.request(`/approvals/${body.approval_id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(400);
    const huge = await h.app.request(`/approvals/${body.approval_id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `decision=approve&subject_token=${'a'.repeat(17 * 1024)}` });
    expect(huge.status).toBe(400);
    const repeated = await h.app.request(`/approvals/${body.approval_id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'decision=approve&decision=deny&subject_token=x' });
    expect(repeated.status).toBe(400);
    const oversized = await h.app.request(`/approvals/${body.approval_id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x'.repeat(70 * 1024) });
    expect(oversized.status).toBe(400);
  });

  it('/diagnose warns that the scope needs approval, and never creates one', async () => {
    const res = await h.diagnose({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', audience: 'argo',
      subject_token: await keycloak.sign(alice()), actor_token: await keycloak.sign(agent()), actor_token_type: 'urn:ietf:params:oauth:token-type:jwt', scope: 'argo:manage',
    });
    const body = (await res.json()) as { verdict: string; checks: { check: string; status: string; message: string }[] };
    expect(body.verdict).toBe('issue');
    expect(body.checks.find((c) => c.check === 'scope')).toMatchObject({ status: 'warn', message: expect.stringContaining('needs approval') });
    expect(h.audits().at(-1)).toMatchObject({ endpoint: 'diagnose' });
    expect(h.audits().at(-1)!.approval_id).toBeUndefined();
  });

  it('never writes a token into the audit lines', async () => {
    const token = await keycloak.sign(bob());
    const { body } = await ask();
    await h.app.request(`/approvals/${body.approval_id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ decision: 'deny', subject_token: token }).toString() });
    expect(JSON.stringify(h.lines)).not.toContain(token.split('.')[2]);
  });

  it('refuses at load an approval scope outside the policy, an unknown approver idp and a ttl out of range', () => {
    expect(() => parseConfigText(config().replace('scopes: [argo:manage]\n      approvers', 'scopes: [k8s:edit]\n      approvers'))).toThrow(/approval\.scopes\[0\]/);
    expect(() => parseConfigText(config().replace('- { idp: keycloak, claims: { groups: oncall } }', '- { idp: nowhere, subject: x }'))).toThrow(/approval\.approvers\[0\]\.idp/);
    expect(() => parseConfigText(config().replace('ttl: 5m', 'ttl: 2d'))).toThrow(/approval\.ttl/);
  });
});
