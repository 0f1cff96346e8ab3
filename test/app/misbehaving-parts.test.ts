/**
 * When a part misbehaves. The error boundary is honest: a refusal is an OAuth error with its
 * check, and a defect is a logged bare 500 — never disguised as a refusal (a crypto port that
 * throws a TypeError is a bug, not "the token signature does not verify"). A slow IdP does not
 * hold a request that cached keys can answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webCryptoPort } from '../../shared/keys/crypto-port.ts';
import { nodeCryptoPort } from '../../functions/node/crypto-port.ts';
import { buildHarness } from '../support/app-harness.ts';
import { CI_MAIN_POLICY_YAML, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
let github: LoopbackIdp;

const config = () => `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
${CI_MAIN_POLICY_YAML}
`;

beforeAll(async () => {
  github = await startLoopbackIdp();
});
afterAll(async () => {
  await github.close();
});

describe('the error boundary', () => {
  it('answers a crypto port that throws a TypeError as a logged 500, not as a signature refusal', async () => {
    const broken = { ...webCryptoPort, verify: async () => { throw new TypeError('the port was handed the wrong arguments'); } };
    const h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv(), ports: { crypto: broken } });
    const token = await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer }));
    const res = await h.exchange({ subject_token: token, audience: 'argo-prod' });
    const body = (await res.json()) as Record<string, unknown>;
    expect({ status: res.status, error: body.error, check: body.check }).toEqual({ status: 500, error: 'server_error', check: 'internal' });
    expect(JSON.stringify(body)).not.toContain('wrong arguments');
    expect(h.errors.some((e) => e.startsWith('unexpected error'))).toBe(true);
  });

  it('still refuses a token signed by another key as a signature failure (400), with either crypto port', async () => {
    for (const crypto of [webCryptoPort, nodeCryptoPort]) {
      const h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv(), ports: { crypto } });
      const good = await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer }));
      const [head, payload] = good.split('.');
      const other = await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer, sub: 'someone-else' }));
      const forged = `${head}.${payload}.${other.split('.')[2]}`;
      const res = await h.exchange({ subject_token: forged, audience: 'argo-prod' });
      const body = (await res.json()) as Record<string, unknown>;
      expect({ status: res.status, error: body.error, check: body.check }).toEqual({ status: 400, error: 'invalid_request', check: 'signature' });
      expect(h.errors).toEqual([]);
    }
  });
});

describe('the crypto ports', () => {
  it('answer false, not an error, for a key that cannot verify the algorithm (their own crypto errors)', async () => {
    const { privateKey, publicKey } = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    void privateKey;
    const data = new TextEncoder().encode('data');
    for (const port of [webCryptoPort, nodeCryptoPort]) {
      expect(await port.verify('RS256', publicKey, data, new Uint8Array(64))).toBe(false);
    }
  });

  it('throw a TypeError for arguments that are not a key (a defect), instead of answering false', async () => {
    const data = new TextEncoder().encode('data');
    for (const port of [webCryptoPort, nodeCryptoPort]) {
      await expect(port.verify('ES256', {} as CryptoKey, data, new Uint8Array(64))).rejects.toThrow(TypeError);
    }
  });
});

describe('a stale key set on Node', () => {
  it('answers from the cached keys at once and refreshes them beside the request', async () => {
    let hang = false;
    const pending: (() => void)[] = [];
    const gatedFetch = (input: string, init?: RequestInit) => hang
      ? new Promise<Response>((resolve) => pending.push(() => resolve(fetch(input, init))))
      : fetch(input, init);
    const h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv(), ports: { fetch: gatedFetch } });
    const token = () => github.sign(fixtureClaims('github-actions', NOW + 700, { iss: github.issuer }), { now: NOW + 700 });
    expect((await h.exchange({ subject_token: await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer })), audience: 'argo-prod' })).status).toBe(200);
    h.setNow(NOW + 700); // past the 10 min refresh age
    hang = true;
    const res = await h.exchange({ subject_token: await token(), audience: 'argo-prod' });
    expect(res.status).toBe(200);
    expect(pending.length).toBeGreaterThan(0); // the refresh is still in flight: the request did not wait for it
    hang = false;
    for (const release of pending.splice(0)) release();
  });
});
