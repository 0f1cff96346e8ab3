/**
 * POST /diagnose/cluster, the diagnose page's cluster section, on the real app: the same
 * diagnosis as `argo-sts diagnose --cluster --json`; the broker's only outbound fetch is the
 * token's issuer's discovery and JWKS, https only and never to a private host unless the broker
 * itself runs on loopback; malformed bodies are 400s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustingCa } from '../../functions/node/ca-fetch.ts';
import { parseAuthenticationConfig } from '../../shared/cluster/authentication-config.ts';
import { diagnoseClusterToken } from '../../shared/cluster/diagnose-cluster.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims } from '../support/loopback-idp.ts';
import { type HttpsIssuer, oneIssuerConfig, pageBrokerConfig, startHttpsIssuer } from '../support/https-issuer.ts';

const NOW = 1_790_000_000;
let idp: HttpsIssuer;
let loopbackBroker: Harness;
let publicBroker: Harness;


const authConfig = () => oneIssuerConfig(idp);

function post(h: Harness, body: unknown, contentType = 'application/json') {
  return h.app.request('/diagnose/cluster', { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

beforeAll(async () => {
  idp = await startHttpsIssuer({ path: '/realms/platform' });
  const env = await signingKeysEnv();
  loopbackBroker = await buildHarness(pageBrokerConfig('http://127.0.0.1/sts'), { now: NOW, env });
  publicBroker = await buildHarness(pageBrokerConfig('https://sts.test.example'), { now: NOW, env });
});

afterAll(async () => {
  await idp.close();
});

describe('POST /diagnose/cluster', () => {
  it('answers what argo-sts diagnose --cluster --json prints, authenticated and refused', async () => {
    for (const aud of ['kubernetes', 'other']) {
      const token = await idp.sign(fixtureClaims('keycloak-access-token', NOW, { iss: idp.issuer, aud }));
      const res = await post(loopbackBroker, { subject_token: token, authentication_config: authConfig() });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = await res.json() as Record<string, any>;
      const direct = await diagnoseClusterToken({ token, config: parseAuthenticationConfig(authConfig()), now: NOW * 1000, fetchFor: (ca) => fetchTrustingCa(ca!) });
      expect(body).toEqual(JSON.parse(JSON.stringify(direct)));
      expect(body.verdict).toBe(aud === 'kubernetes' ? 'authenticated' : 'refused');
      if (aud === 'kubernetes') expect(body.user).toMatchObject({ username: 'oidc:alice', groups: ['oidc:platform-engineers', 'oidc:argo-users', 'system:authenticated'] });
      expect(JSON.stringify(body)).not.toContain(token);
    }
  });

  it('does not fetch from a private or loopback host when the broker is public', async () => {
    const token = await idp.sign(fixtureClaims('keycloak-access-token', NOW, { iss: idp.issuer, aud: 'kubernetes' }));
    const body = await (await post(publicBroker, { subject_token: token, authentication_config: authConfig() })).json() as Record<string, any>;
    expect(body.verdict).toBe('refused');
    const discovery = body.checks.find((c: { check: string }) => c.check === 'discovery');
    expect(discovery).toMatchObject({ status: 'fail', cause: 'cluster.discovery.unreachable' });
    expect(discovery.message).toMatch(/refused: 127\.0\.0\.1 is a private or loopback host/);
  });

  it('answers 400 for a body that is not JSON, a missing field or text that is no configuration', async () => {
    const token = await idp.sign(fixtureClaims('keycloak-access-token', NOW, { iss: idp.issuer }));
    const cases: [unknown, string?][] = [
      ['subject_token=x', 'application/x-www-form-urlencoded'],
      ['{not json'],
      [{ authentication_config: authConfig() }],
      [{ subject_token: token }],
      [{ subject_token: token, authentication_config: 'kind: Pod\napiVersion: v1\n' }],
    ];
    for (const [body, type] of cases) {
      const res = await post(loopbackBroker, body, type);
      expect(res.status).toBe(400);
      const answer = await res.json() as Record<string, string>;
      expect(answer.error).toBe('invalid_request');
      expect(JSON.stringify(answer)).not.toContain(token);
    }
  });
});
