/**
 * Shared setup of the attack suite: a GitHub-shaped loopback IdP (RS256), an attacker's server
 * that counts every request (for jku/x5u), the real app around a real broker, and helpers to craft
 * tokens byte by byte.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportSPKI, generateKeyPair, importJWK } from 'jose';
import { expect } from 'vitest';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { CI_MAIN_POLICY_YAML, signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp } from '../support/loopback-idp.ts';

export const NOW = 1_790_000_000;

export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A policy set with two GitHub policies (a union of them would grant more) and delegation. */
export function attackConfig(github: LoopbackIdp, agents: LoopbackIdp, idpExtra = ''): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - name: github
    issuer: ${github.issuer}
    audiences: [argo-sts]
    preset: github-actions${idpExtra}
  - { name: agents, issuer: ${agents.issuer}, audiences: [argo-sts] }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes-dev }
policies:
${CI_MAIN_POLICY_YAML}
    delegation:
      actors: [{ idp: agents, subject: agent-7, scopes: [argo:read] }]
  - id: ci-read
    idp: github
    target: argo-prod
    subject_pattern: "repo:acme/*"
    claims: { repository_owner: acme }
    namespaces: [staging]
    scopes: [argo:read]
`;
}

export async function attackHarness(config: string): Promise<Harness> {
  return buildHarness(config, { now: NOW, env: await signingKeysEnv() });
}

export function githubClaims(github: LoopbackIdp, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return fixtureClaims('github-actions', NOW, { iss: github.issuer, ...overrides });
}

/**
 * Signs any header and payload bytes with the IdP's own private key (a genuine RS256 signature),
 * byte by byte: no library between the attack and the bytes refuses odd headers.
 */
export async function signAsIdp(idp: LoopbackIdp, header: Record<string, unknown>, payload: string): Promise<string> {
  const key = await crypto.subtle.importKey('jwk', idp.privateJwk as JsonWebKey, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  const input = `${b64({ alg: 'RS256', kid: idp.kid, ...header })}.${b64(payload)}`;
  const sig = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

/** HS256 over header.payload with an arbitrary secret (the RSA public key, say). */
export function hs256(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string): string {
  const input = `${b64({ ...header, alg: 'HS256' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export async function publicPem(idp: LoopbackIdp): Promise<string> {
  const key = await importJWK(idp.jwks.keys[0]!, 'RS256');
  return exportSPKI(key as CryptoKey);
}

/** An attacker's key pair and a server that counts requests: nothing may ever reach it. */
export async function startAttacker() {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    publicKey,
    privateKey,
    get hits() {
      return hits;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Asserts a 4xx OAuth refusal with no token, audited as denied, and returns the body. */
export async function expectRefused(h: Harness, res: Response, expected: { status?: number; error?: string; check?: string | string[] }) {
  const body = (await res.json()) as Record<string, string>;
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  if (expected.status) expect(res.status).toBe(expected.status);
  if (expected.error) expect(body.error).toBe(expected.error);
  if (expected.check) expect([expected.check].flat()).toContain(body.check);
  expect(body.access_token).toBeUndefined();
  const audit = h.audits().at(-1)!;
  expect(audit).toMatchObject({ decision: 'denied', request_id: body.request_id });
  return body;
}
