/** Workload identity in real workerd: ServiceAccount tokens (preset kubernetes) as subject and actor. */
import { env } from 'cloudflare:test';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { postExchange as exchange } from './post-token.ts';
import type { D1Like } from '../../functions/worker/d1-audit-sink.ts';
import { signSubject } from './signed-subject.ts';
import { signServiceAccount } from './signed-workload.ts';

describe('kubernetes preset in workerd', () => {
  it('exchanges a bound ServiceAccount token matched by namespace and ServiceAccount', async () => {
    const res = await exchange({ subject_token: await signServiceAccount(), subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(decodeJwt(body.access_token!)).toMatchObject({ sub: 'cluster:system:serviceaccount:agents:release-agent', scope: 'argo:read' });
  });

  it("refuses a pod's default token for the apiserver audience", async () => {
    const res = await exchange({ subject_token: await signServiceAccount({ aud: ['https://kubernetes.default.svc'] }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', check: 'audience' });
  });

  it('refuses a legacy Secret-based token', async () => {
    const legacy = await signServiceAccount({ iss: 'kubernetes/serviceaccount', exp: undefined, iat: undefined, nbf: undefined });
    const res = await exchange({ subject_token: legacy });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({ error: 'invalid_request', check: 'issuer' });
    expect(body.error_description).toContain('legacy');
  });
});

describe('delegation chains in workerd', () => {
  it("nests the subject token's act under a ServiceAccount actor and stores every link in D1", async () => {
    const subject = await signSubject({ sub: 'repo:acme/app:ref:refs/heads/agents', jti: crypto.randomUUID(), act: { sub: 'orchestrator' } });
    const res = await exchange({ subject_token: subject, actor_token: await signServiceAccount(), actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(decodeJwt(body.access_token!).act).toEqual({ sub: 'cluster:system:serviceaccount:agents:release-agent', act: { sub: 'orchestrator' } });
    const db = (env as unknown as { AUDIT_DB: D1Like }).AUDIT_DB;
    const { results } = await db.prepare('SELECT actor, actor_chain FROM audit_events WHERE request_id = ?').bind(res.headers.get('x-request-id')!).all();
    expect(results).toEqual([{ actor: 'cluster:system:serviceaccount:agents:release-agent', actor_chain: '["cluster:system:serviceaccount:agents:release-agent","orchestrator"]' }]);
  });

  it('refuses a third actor beyond max_chain', async () => {
    const subject = await signSubject({ sub: 'repo:acme/app:ref:refs/heads/agents', act: { sub: 'a', act: { sub: 'b' } } });
    const res = await exchange({ subject_token: subject, actor_token: await signServiceAccount(), actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', check: 'policy' });
  });
});

describe('RFC 8707 resource in workerd', () => {
  it('names the target by resource', async () => {
    const res = await exchange({ subject_token: await signSubject({ jti: crypto.randomUUID() }), resource: 'argo-prod' });
    expect(res.status).toBe(200);
    const other = await exchange({ subject_token: await signSubject({ jti: crypto.randomUUID() }), resource: 'argo-nowhere' });
    expect(await other.json()).toMatchObject({ error: 'invalid_target' });
  });
});
