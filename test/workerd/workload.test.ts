/** Workload identity in real workerd: ServiceAccount tokens (preset kubernetes) as subject and actor. */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { postExchange as exchange } from './post-token.ts';
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
