/**
 * The Worker's own code in real workerd, configured for the targets others issue: signing keys
 * from (loopback) AWS Secrets Manager with credentials passed explicitly, a TokenRequest target
 * whose cluster token is an `aws-secrets-manager:ID#token` reference, and both Entra targets
 * through MSAL under nodejs_compat.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { decodeJwt, importJWK, SignJWT } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import worker from '../../functions/worker.ts';
import githubClaims from '../fixtures/claims/github-actions.json';

const AKS_SERVER_APP = '6dae42f8-4368-4678-94ff-3960e28e3630';
const env = { ...JSON.parse(inject('targetsBindings')), ARGO_STS_CONFIG: inject('targetsConfig') };

async function call(path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`https://sts.workers.test${path}`, init), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

function exchange(params: Record<string, string>) {
  return call('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      ...params,
    }),
  });
}

async function githubToken(): Promise<string> {
  const jwk = JSON.parse(inject('targetsIdpPrivateJwk'));
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(githubClaims)) if (!k.startsWith('_')) claims[k] = v;
  Object.assign(claims, { iss: inject('targetsIdpIssuer'), iat: now, nbf: now - 60, exp: now + 300 });
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: jwk.kid }).sign(await importJWK(jwk, 'RS256'));
}

describe('targets in workerd', () => {
  it('signs with the key set staged AWSCURRENT in Secrets Manager and publishes it', async () => {
    const jwks = (await (await call('/.well-known/jwks.json')).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([inject('awsSigningKid')]);
    const ready = (await (await call('/readyz')).json()) as { checks: { signing_keys: Record<string, unknown> } };
    expect(ready.checks.signing_keys).toMatchObject({ status: 'ok', kid: inject('awsSigningKid') });
  });

  it('exchanges a CI token for a ServiceAccount token through the TokenRequest API', async () => {
    const res = await exchange({ subject_token: await githubToken(), audience: 'argo-legacy' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; expires_in: number; namespace: string };
    expect(body.namespace).toBe('ci');
    // 600 s from the cluster's clock (the fake's, read when it answers), counted from the
    // broker's, read when the request started: they differ by the exchange's own latency.
    expect(body.expires_in).toBeGreaterThanOrEqual(600);
    expect(body.expires_in).toBeLessThan(630);
    const review = await fetch(`${inject('kubernetesUrl')}/apis/authentication.k8s.io/v1/tokenreviews`, {
      method: 'POST',
      headers: { authorization: 'Bearer broker-narrow-token', 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: body.access_token, audiences: ['https://argo.example.com'] } }),
    });
    expect(((await review.json()) as { status: unknown }).status).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:ci:argo-submitter' } });
  });

  it('exchanges an Entra user token on behalf of the user for an AKS token (MSAL)', async () => {
    const res = await exchange({ subject_token: inject('entraUserToken'), audience: 'aks-obo' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; expires_in: number };
    expect(decodeJwt(body.access_token)).toMatchObject({ aud: AKS_SERVER_APP, upn: 'ada@contoso.example' });
    expect(body.expires_in).toBeGreaterThan(3000);
  });

  it('acquires an AKS token for the service principal with client credentials (MSAL)', async () => {
    const res = await exchange({ subject_token: inject('entraUserToken'), audience: 'aks-sp' });
    expect(res.status).toBe(200);
    expect(decodeJwt(((await res.json()) as { access_token: string }).access_token)).toMatchObject({ aud: AKS_SERVER_APP, idtyp: 'app' });
  });
});
