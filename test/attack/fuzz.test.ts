/**
 * Property-based fuzzing of /token with fast-check: random mutations of a valid request never
 * produce a 5xx, and never a token unless the mutation left the signed bytes and the grant's
 * bounds intact. Runs are bounded (a few hundred requests) so CI stays fast; a failure prints the
 * seed and the shrunk counterexample.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/app-harness.ts';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { attackConfig, attackHarness, githubClaims } from './support.ts';

let github: LoopbackIdp;
let agents: LoopbackIdp;
let h: Harness;
let valid: string;

beforeAll(async () => {
  github = await startLoopbackIdp();
  agents = await startLoopbackIdp();
  h = await attackHarness(attackConfig(github, agents));
  valid = await github.sign(githubClaims(github));
  expect((await h.exchange({ subject_token: valid, audience: 'argo-prod' })).status).toBe(200);
});
afterAll(async () => {
  await Promise.all([github.close(), agents.close()]);
});

/** The bytes a compact JWS stands for: a token that decodes to the same bytes is the same token. */
function decodedBytes(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return undefined;
  return parts.map((p) => Buffer.from(p, 'base64url').toString('hex')).join('.');
}

const BASE64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];
const tokenMutation = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), char: fc.constantFrom(...BASE64URL, '.', '=', '+', '/', ' ', '%', '\u00e9') }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ maxLength: 20 }) }),
  fc.record({ kind: fc.constant('swap-segments' as const), a: fc.integer({ min: 0, max: 2 }), b: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('segment-json' as const), segment: fc.integer({ min: 0, max: 1 }), json: fc.jsonValue({ maxDepth: 2 }) }),
);
type TokenMutation = typeof tokenMutation extends fc.Arbitrary<infer T> ? T : never;

function mutateToken(token: string, m: TokenMutation): string {
  switch (m.kind) {
    case 'replace': {
      const at = m.at % token.length;
      return token.slice(0, at) + m.char + token.slice(at + 1);
    }
    case 'delete': {
      const at = m.at % token.length;
      return token.slice(0, at) + token.slice(at + m.length);
    }
    case 'insert': {
      const at = m.at % (token.length + 1);
      return token.slice(0, at) + m.text + token.slice(at);
    }
    case 'swap-segments': {
      const parts = token.split('.');
      [parts[m.a], parts[m.b]] = [parts[m.b]!, parts[m.a]!];
      return parts.join('.');
    }
    case 'truncate':
      return token.slice(0, m.at % token.length);
    case 'segment-json': {
      const parts = token.split('.');
      parts[m.segment] = Buffer.from(JSON.stringify(m.json) ?? 'null').toString('base64url');
      return parts.join('.');
    }
  }
}

const POLICY_SCOPES = ['argo:submit', 'argo:read'];

describe('fuzzing POST /token', () => {
  it('a mutated subject token never yields a 5xx, and a token only when it decodes to the same bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.array(tokenMutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const token = mutations.reduce(mutateToken, valid);
      const res = await h.exchange({ subject_token: token, audience: 'argo-prod' });
      expect(res.status).toBeLessThan(500);
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status === 200) expect(decodedBytes(token)).toBe(decodedBytes(valid));
      else expect(body.access_token).toBeUndefined();
    }), { numRuns: 250 });
  });

  it('random parameters around a valid token never yield a 5xx, and never a grant beyond the policies', async () => {
    const param = fc.oneof(fc.constantFrom('', 'argo:read', 'argo:submit', 'argo:manage', 'ci', 'staging', 'argo-prod', '600', '-1', '%00', 'a b'), fc.string({ maxLength: 30 }));
    const params = fc.dictionary(
      fc.constantFrom('grant_type', 'subject_token_type', 'audience', 'scope', 'namespace', 'requested_ttl', 'requested_token_type', 'actor_token', 'actor_token_type', 'resource', 'junk'),
      param,
      { maxKeys: 5 },
    );
    await fc.assert(fc.asyncProperty(params, async (overrides) => {
      const res = await h.exchange({ subject_token: valid, audience: 'argo-prod', ...overrides });
      expect(res.status).toBeLessThan(500);
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status === 200) {
        expect(String(body.scope).split(' ').every((s) => POLICY_SCOPES.includes(s))).toBe(true);
        expect(['ci', 'staging']).toContain(body.namespace);
        expect(body.expires_in as number).toBeLessThanOrEqual(900);
      } else {
        expect(body.access_token).toBeUndefined();
      }
    }), { numRuns: 250 });
  });

  it('POST /diagnose with a mutated token answers 200 with a deny verdict, never a 5xx and never a token', async () => {
    await fc.assert(fc.asyncProperty(fc.array(tokenMutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const token = mutations.reduce(mutateToken, valid);
      const res = await h.diagnose({ subject_token: token, audience: 'argo-prod' });
      const text = await res.text();
      expect(res.status).toBeLessThan(500);
      expect((JSON.parse(text) as Record<string, unknown>).access_token).toBeUndefined();
      if (token.length > 40) expect(text).not.toContain(token);
      if (res.status === 200 && decodedBytes(token) !== decodedBytes(valid)) expect(JSON.parse(text).verdict).toBe('deny');
    }), { numRuns: 150 });
  });

  it('arbitrary bodies and content types never yield a 5xx', async () => {
    const contentType = fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'multipart/form-data; boundary=x', '');
    const body = fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')));
    await fc.assert(fc.asyncProperty(contentType, body, async (type, text) => {
      const res = await h.app.request('/token', { method: 'POST', headers: type ? { 'content-type': type } : {}, body: text });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }), { numRuns: 200 });
  });
});
