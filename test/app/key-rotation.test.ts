/**
 * Signing keys from AWS Secrets Manager (a loopback fake speaking the service's protocol),
 * rotated current → previous → gone while a verifier checks every live token continuously.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeSecretStore } from '../../functions/node/secrets.ts';
import { MAX_PUBLISHED, SigningKeyRing } from '../../shared/keys/signing-key-ring.ts';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '../fakes/aws-secrets-manager.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const T0 = 1_790_000_000;
const SECRET = 'argo-sts/signing-keys';
let aws: FakeSecretsManager;
let github: LoopbackIdp;

function config(): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: "aws-secrets-manager:${SECRET}" }
defaults: { ttl: 10m, max_ttl: 15m, clock_skew: 60s }
idps:
  - { name: github, issuer: "${github.issuer}", audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    claims: { repository_owner: acme }
    namespaces: [ci]
    scopes: [argo:submit]
`;
}

async function newKeySet(): Promise<{ text: string; kid: string }> {
  const set = await generatePrivateJwks('ES256');
  return { text: JSON.stringify(set), kid: set.keys[0]!.kid! };
}

async function publishedKids(h: Harness): Promise<string[]> {
  const jwks = (await (await h.app.request('/.well-known/jwks.json')).json()) as { keys: JWK[] };
  return jwks.keys.map((k) => k.kid!);
}

beforeAll(async () => {
  aws = await startFakeSecretsManager();
  github = await startLoopbackIdp();
});
afterAll(async () => {
  await aws.close();
  await github.close();
});

describe('signing keys in AWS Secrets Manager', () => {
  it('rotates current → previous → gone with zero failed verifications', async () => {
    const k1 = await newKeySet();
    const k2 = await newKeySet();
    const k3 = await newKeySet();
    aws.put(SECRET, k1.text);
    let now = T0;
    const h = await buildHarness(config(), { now, secrets: nodeSecretStore(aws.env) });

    const live: { token: string; kid: string; exp: number }[] = [];
    const signers: string[] = [];
    let verified = 0;
    const failures: string[] = [];
    /** What kube-apiserver does: fetch the issuer's JWKS, verify every token that should still be valid. */
    async function verifyAll() {
      const res = await h.app.request('/.well-known/jwks.json');
      const keySet = createLocalJWKSet((await res.json()) as { keys: JWK[] });
      for (const t of live.filter((x) => x.exp > now)) {
        try {
          await jwtVerify(t.token, keySet, { issuer: 'https://sts.test.example', audience: 'kubernetes', currentDate: new Date(now * 1000) });
          verified++;
        } catch (err) {
          failures.push(`${t.kid} at +${now - T0}s: ${(err as Error).name}`);
        }
      }
    }

    // Two simulated hours in 30-second steps: K2 becomes current at +20 min, K3 at +25 min.
    for (let step = 0; step <= 240; step++) {
      now = T0 + step * 30;
      h.setNow(now);
      if (now === T0 + 20 * 60) aws.put(SECRET, k2.text);
      if (now === T0 + 25 * 60) aws.put(SECRET, k3.text); // K1 leaves every stage while its tokens live
      await h.broker.signingKeys.maintain?.(now * 1000);
      const res = await h.exchange({ subject_token: await github.sign(fixtureClaims('github-actions', now, { iss: github.issuer })) });
      expect(res.status).toBe(200);
      const { access_token: token, expires_in: ttl } = (await res.json()) as { access_token: string; expires_in: number };
      const kid = JSON.parse(atob(token.split('.')[0]!.replace(/-/g, '+').replace(/_/g, '/'))).kid as string;
      if (signers.at(-1) !== kid) signers.push(kid);
      live.push({ token, kid, exp: now + ttl });
      await verifyAll();

      const k1Unexpired = live.some((t) => t.kid === k1.kid && t.exp > now);
      if (k1Unexpired) expect(await publishedKids(h)).toContain(k1.kid);
    }

    expect(failures).toEqual([]);
    expect(verified).toBeGreaterThan(240 * 10);
    expect(signers).toEqual([k1.kid, k2.kid, k3.kid]);
    // K1 is gone (its last token expired long ago); K2 is AWSPREVIOUS, so still published.
    expect(await publishedKids(h)).toEqual([k3.kid, k2.kid]);
    expect(h.broker.signingKeys.health?.().status).toBe('ok');
  });

  it('publishes an AWSPENDING key before it signs', async () => {
    const k1 = await newKeySet();
    const k2 = await newKeySet();
    const secret = `${SECRET}-pending`;
    aws.put(secret, k1.text);
    aws.putPending(secret, k2.text);
    const h = await buildHarness(config().replace(SECRET, secret), { now: T0, secrets: nodeSecretStore(aws.env) });
    expect(h.broker.signingKeys.kid).toBe(k1.kid);
    expect(await publishedKids(h)).toEqual([k1.kid, k2.kid]);
  });

  it('keeps the last good keys when a refresh fails, reports degraded on /readyz, and recovers', async () => {
    const k1 = await newKeySet();
    const k2 = await newKeySet();
    const secret = `${SECRET}-outage`;
    aws.put(secret, k1.text);
    const h = await buildHarness(config().replace(SECRET, secret), { now: T0, secrets: nodeSecretStore(aws.env) });

    aws.put(secret, k2.text);
    aws.setDown(true);
    h.setNow(T0 + 301);
    await h.broker.signingKeys.maintain?.((T0 + 301) * 1000);
    expect(h.broker.signingKeys.kid).toBe(k1.kid);
    const ready = await h.app.request('/readyz');
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: { signing_keys: Record<string, unknown> } };
    expect(body.status).toBe('degraded');
    expect(body.checks.signing_keys).toMatchObject({ status: 'degraded', kid: k1.kid });
    expect(String(body.checks.signing_keys.last_error)).toMatch(/InternalServiceError/);
    const res = await h.exchange({ subject_token: await github.sign(fixtureClaims('github-actions', T0 + 301, { iss: github.issuer })) });
    expect(res.status).toBe(200);
    expect(h.errors.join('\n')).toMatch(/refresh failed, still signing with kid/);

    // Not retried by every request: the next attempt waits for the retry interval.
    expect(h.broker.signingKeys.maintain?.((T0 + 310) * 1000)).toBeUndefined();
    aws.setDown(false);
    h.setNow(T0 + 332);
    await h.broker.signingKeys.maintain?.((T0 + 332) * 1000);
    expect(h.broker.signingKeys.kid).toBe(k2.kid);
    expect(h.broker.signingKeys.health?.().status).toBe('ok');
  });

  it('re-reads a file: key set and keeps a key dropped from it published until its tokens expired', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-keys-'));
    try {
      const path = join(dir, 'keys.json');
      const k1 = (await generatePrivateJwks('ES256')).keys[0]!;
      const k2 = (await generatePrivateJwks('ES256')).keys[0]!;
      writeFileSync(path, JSON.stringify({ keys: [k1] }));
      const h = await buildHarness(config().replace(`"aws-secrets-manager:${SECRET}"`, `"file:${path}"`), { now: T0, secrets: nodeSecretStore({}) });
      writeFileSync(path, JSON.stringify({ keys: [k2] })); // the mounted Secret changes
      h.setNow(T0 + 300);
      await h.broker.signingKeys.maintain?.((T0 + 300) * 1000);
      expect(h.broker.signingKeys.kid).toBe(k2.kid);
      expect(await publishedKids(h)).toEqual([k2.kid, k1.kid]);
      // K1 was last seen at start-up (T0); it stays 15 min max_ttl + 60 s leeway + one 5-minute
      // refresh interval = 1260 s after that, and not a second longer.
      h.setNow(T0 + 1260);
      await h.broker.signingKeys.maintain?.((T0 + 1260) * 1000);
      expect(await publishedKids(h)).toEqual([k2.kid, k1.kid]);
      h.setNow(T0 + 1261);
      await (h.broker.signingKeys as SigningKeyRing).refresh();
      expect(await publishedKids(h)).toEqual([k2.kid]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('publishes at most 16 keys when a rotation job runs away, dropping the longest retired first', async () => {
    const secret = `${SECRET}-runaway`;
    const first = await newKeySet();
    aws.put(secret, first.text);
    const h = await buildHarness(config().replace(SECRET, secret), { now: T0, secrets: nodeSecretStore(aws.env) });
    for (let i = 1; i <= 20; i++) {
      aws.put(secret, (await newKeySet()).text);
      h.setNow(T0 + i * 10);
      await (h.broker.signingKeys as SigningKeyRing).refresh(); // faster than tokens expire
    }
    const kids = await publishedKids(h);
    expect(kids).toHaveLength(MAX_PUBLISHED);
    expect(kids).not.toContain(first.kid);
    expect(h.errors.join('\n')).toMatch(/more than 16 keys; stopped publishing retired kid/);
  });

  it('refuses to start when the secret cannot be read, naming the secret and the AWS error', async () => {
    await expect(buildHarness(config().replace(SECRET, 'absent'), { now: T0, secrets: nodeSecretStore(aws.env) }))
      .rejects.toThrow('secret aws-secrets-manager:absent: GetSecretValue (AWSCURRENT) failed: ResourceNotFoundException');
  });
});
