/**
 * The broker's own cluster side, diagnosed: a credential argo-sts mints (ES256) against the
 * AuthenticationConfiguration `argo-sts render` writes for it, v1 and v1beta1, with the broker
 * served over https on loopback as a cluster would reach it. The mapped user is what the
 * rendered RBAC binds (`argo-sts:<sub>`, groups `argo-sts:<namespace>:<scope>`); the same
 * credential against the legacy --oidc-* flags (RS256 only by default) is refused on signature.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustingCa } from '../../functions/node/ca-fetch.ts';
import { parseAuthenticationConfig } from '../../shared/cluster/authentication-config.ts';
import { diagnoseClusterToken } from '../../shared/cluster/diagnose-cluster.ts';
import { authenticationConfiguration } from '../../shared/cluster/render-cluster.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { CI_MAIN_POLICY_YAML, signingKeysEnv } from '../support/configs.ts';
import { loopbackCertificate } from '../support/https-issuer.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let github: LoopbackIdp;
let h: Harness;
let server: Server;
let issuer: string;
let caPem: string;
let credential: string;

beforeAll(async () => {
  github = await startLoopbackIdp();
  const tls = await loopbackCertificate();
  caPem = tls.cert;
  let handler: ReturnType<typeof getRequestListener> | undefined;
  server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => void handler?.(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h = await buildHarness(`
issuer: ${issuer}
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: github, issuer: "${github.issuer}", audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
${CI_MAIN_POLICY_YAML}
`, { now: NOW, env: await signingKeysEnv() });
  handler = getRequestListener(h.app.fetch);
  const res = await h.exchange({ subject_token: await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer })), audience: 'argo-prod', scope: 'argo:submit', namespace: 'ci' });
  expect(res.status).toBe(200);
  credential = ((await res.json()) as { access_token: string }).access_token;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await github.close();
});

function rendered(version: 'v1' | 'v1beta1'): string {
  const doc = authenticationConfiguration(h.broker.config, 'kubernetes', version) as unknown as { jwt: { issuer: Record<string, unknown> }[] };
  // A private CA, as an operator adds for a broker behind one (the rendered file leaves it out).
  doc.jwt[0]!.issuer.certificateAuthority = caPem;
  return stringify(doc);
}

describe('a credential argo-sts mints, against the AuthenticationConfiguration argo-sts renders', () => {
  for (const version of ['v1', 'v1beta1'] as const) {
    it(`is authenticated (${version}) as argo-sts:<sub> with its scope groups and its jti as credential id`, async () => {
      const d = await diagnoseClusterToken({ token: credential, config: parseAuthenticationConfig(rendered(version)), now: NOW * 1000, fetchFor: (ca) => fetchTrustingCa(ca!) });
      expect(d.config.problems).toEqual([]);
      expect(d.verdict).toBe('authenticated');
      expect(d.authenticator).toBe(issuer);
      expect(d.user?.username).toBe('argo-sts:github:repo:acme/app:ref:refs/heads/main');
      expect(d.user?.groups).toEqual(['argo-sts:ci:argo:submit', 'system:authenticated']);
      expect(d.user?.extra['authentication.kubernetes.io/credential-id']?.[0]).toMatch(/^JTI=/);
      expect(d.checks.find((c) => c.check === 'claim_validation')?.rules?.[0]).toMatchObject({ status: 'pass' });
    });
  }

  it('is refused by the legacy --oidc-* flags, which accept only RS256 unless told otherwise', async () => {
    const flags = parseAuthenticationConfig(`--oidc-issuer-url=${issuer} --oidc-client-id=kubernetes --oidc-username-prefix=argo-sts: --oidc-groups-claim=groups`);
    const d = await diagnoseClusterToken({ token: credential, config: flags, now: NOW * 1000, fetchFor: () => fetchTrustingCa(caPem) });
    expect(d.verdict).toBe('refused');
    expect(d.checks.find((c) => c.check === 'signature')).toMatchObject({ status: 'fail', cause: 'cluster.signature.algorithm', actual: 'ES256' });
    const allowed = parseAuthenticationConfig(`--oidc-issuer-url=${issuer} --oidc-client-id=kubernetes --oidc-username-prefix=argo-sts: --oidc-groups-claim=groups --oidc-signing-algs=ES256`);
    expect((await diagnoseClusterToken({ token: credential, config: allowed, now: NOW * 1000, fetchFor: () => fetchTrustingCa(caPem) })).verdict).toBe('authenticated');
  });
});
