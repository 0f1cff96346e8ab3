/**
 * POST /diagnose/cluster in real workerd: the same cluster diagnosis, where the runtime cannot
 * trust a private CA (said plainly) and a public broker never fetches from a private host.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { signSubject } from './signed-subject.ts';

type Check = { check: string; status: string; message: string; cause?: string };

function config(url: string, ca?: string): string {
  return `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer:
      url: ${url}
      audiences: [argo-sts]
${ca ? `      certificateAuthority: |\n        ${ca}\n` : ''}    claimMappings:
      username: { claim: sub, prefix: "github:" }
`;
}

async function diagnose(token: string, text: string) {
  const res = await SELF.fetch('https://sts.workers.test/diagnose/cluster', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ subject_token: token, authentication_config: text }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { verdict: string; authenticator: string | null; checks: Check[] };
}

describe('/diagnose/cluster in workerd', () => {
  it('says a private certificateAuthority cannot be trusted here, and refuses to fetch from a private host', async () => {
    const iss = 'https://10.1.2.3/realms/platform';
    const token = await signSubject({ iss });
    const withCa = await diagnose(token, config(iss, '-----BEGIN CERTIFICATE-----MIIB-----END CERTIFICATE-----'));
    expect(withCa.authenticator).toBe(iss);
    expect(withCa.checks.find((c) => c.check === 'discovery')?.message).toMatch(/cannot trust a private certificateAuthority/);
    const privateHost = await diagnose(token, config(iss));
    expect(privateHost.verdict).toBe('refused');
    expect(privateHost.checks.find((c) => c.check === 'discovery')?.message).toMatch(/refused: 10\.1\.2\.3 is a private or loopback host/);
  });
});
