/**
 * The client library inside workerd, talking to the real worker through SELF.fetch: the same
 * code an edge function or an agent running on Workers would use (no Node APIs).
 */
import { SELF } from 'cloudflare:test';
import { importJWK, SignJWT } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import { CredentialCache, decodeJwtClaims, diagnose, exchange, listTargets, StsRequestError } from '../../client/index.ts';
import githubClaims from '../fixtures/claims/github-actions.json';

const options = { broker: 'https://sts.workers.test', fetch: (request: Request) => SELF.fetch(request), userAgent: 'workerd-client-test' };

async function jobToken(): Promise<string> {
  const jwk = JSON.parse(inject('idpPrivateJwk'));
  const now = Math.floor(Date.now() / 1000);
  const claims = Object.fromEntries(Object.entries(githubClaims).filter(([k]) => !k.startsWith('_')));
  return new SignJWT({ ...claims, iss: inject('idpIssuer'), iat: now, nbf: now - 600, exp: now + 300 })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: jwk.kid })
    .sign(await importJWK(jwk, 'RS256'));
}

describe('the argo-sts client on Workers', () => {
  it('exchanges through the worker and caches the credential until it nears expiry', async () => {
    const subjectToken = await jobToken();
    const cache = new CredentialCache();
    let exchanges = 0;
    const get = () => cache.get('argo-prod/ci', () => {
      exchanges++;
      return exchange(options, { subjectToken, audience: 'argo-prod', scope: 'argo:read', namespace: 'ci', ttl: 300 });
    });
    const credential = await get();
    expect(await get()).toBe(credential);
    expect(exchanges).toBe(1);
    expect(credential).toMatchObject({ expiresIn: 300, scopes: ['argo:read'], namespace: 'ci' });
    expect(decodeJwtClaims(credential.accessToken)).toMatchObject({ sub: 'github:repo:acme/app:ref:refs/heads/main', groups: ['argo-sts:ci:argo:read'] });
  });

  it('surfaces a refusal as StsRequestError with the check and request_id, and diagnoses it', async () => {
    const subjectToken = await jobToken();
    const err = await exchange(options, { subjectToken, audience: 'argo-prod', scope: 'argo:manage' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StsRequestError);
    expect(err).toMatchObject({ error: 'invalid_scope', check: 'scope', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const diagnosis = await diagnose(options, { subjectToken, audience: 'argo-prod', scope: 'argo:manage' });
    expect(diagnosis.verdict).toBe('deny');
    expect(diagnosis.checks.find((c) => c.check === 'scope')?.status).toBe('fail');
  });

  it('lists the targets', async () => {
    expect(await listTargets(options)).toEqual([{ name: 'argo-prod', kind: 'kubernetes-oidc' }]);
  });
});
