/**
 * The attack suite: hostile subject and actor tokens against the real app. Every attack is
 * refused with a 4xx OAuth error, audited as a denial, never a 5xx and never a token.
 */
import { CompactSign, exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/app-harness.ts';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import {
  attackConfig, attackHarness, b64, expectRefused, githubClaims, hs256, NOW, publicPem, signAsIdp, startAttacker,
} from './support.ts';

let github: LoopbackIdp;
let agents: LoopbackIdp;
let attacker: Awaited<ReturnType<typeof startAttacker>>;
let h: Harness;

beforeAll(async () => {
  github = await startLoopbackIdp();
  agents = await startLoopbackIdp();
  attacker = await startAttacker();
  h = await attackHarness(attackConfig(github, agents));
  // Warm the key cache so later cases count only what the attack itself causes.
  expect((await h.exchange({ subject_token: await github.sign(claims()), audience: 'argo-prod' })).status).toBe(200);
});
afterAll(async () => {
  await Promise.all([github.close(), agents.close(), attacker.close()]);
});

const claims = (o: Record<string, unknown> = {}) => githubClaims(github, o);
const send = (subject_token: string, extra: Record<string, string> = {}) => h.exchange({ subject_token, audience: 'argo-prod', ...extra });

describe('algorithm confusion', () => {
  it.each(['none', 'None', 'NONE', 'nOnE'])('refuses alg %s with an empty signature', async (alg) => {
    await expectRefused(h, await send(`${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`), { status: 400, error: 'invalid_request', check: ['format', 'signature'] });
  });

  it('refuses HS256 keyed with the issuer\'s RSA public key in PEM form', async () => {
    const token = hs256({ typ: 'JWT', kid: github.kid }, claims(), await publicPem(github));
    await expectRefused(h, await send(token), { status: 400, check: 'signature' });
  });

  it('refuses HS256 keyed with the issuer\'s RSA public key in JWK form', async () => {
    const token = hs256({ typ: 'JWT', kid: github.kid }, claims(), JSON.stringify(github.jwks.keys[0]));
    await expectRefused(h, await send(token), { status: 400, check: 'signature' });
  });

  it('refuses an EdDSA header on a token signed with the RSA key (alg/key mismatch)', async () => {
    const token = await signAsIdp(github, { alg: 'RS256' }, JSON.stringify(claims()));
    const [, payload, sig] = token.split('.');
    await expectRefused(h, await send(`${b64({ alg: 'EdDSA', kid: github.kid })}.${payload}.${sig}`), { status: 400, check: 'signature' });
  });
});

describe('header injection: keys named by the token are never fetched or trusted', () => {
  it.each([
    ['a path-traversal kid', '../../../../etc/passwd'],
    ['an SQL kid', "' OR '1'='1"],
    ['a URL kid', 'http://127.0.0.1:1/keys'],
    ['a kid with control characters', 'a\u0000b\r\nc'],
    ['a 4 KiB kid', 'k'.repeat(4096)],
  ])('refuses %s', async (_name, kid) => {
    const token = await github.sign(claims(), { kid, foreignKey: true });
    await expectRefused(h, await send(token), { status: 400, check: 'signature' });
  });

  it.each([
    ['jku', (url: string) => ({ jku: `${url}/jwks.json` })],
    ['x5u', (url: string) => ({ x5u: `${url}/cert.pem` })],
  ])('never fetches a %s header URL', async (_name, header) => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'attacker', ...header(attacker.url) }).sign(attacker.privateKey);
    await expectRefused(h, await send(token), { status: 400, check: 'signature' });
    expect(attacker.hits).toBe(0);
  });

  it('never trusts an embedded jwk header, even with the issuer\'s kid', async () => {
    const jwk = await exportJWK(attacker.publicKey);
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: github.kid, jwk }).sign(attacker.privateKey);
    await expectRefused(h, await send(token), { status: 400, check: 'signature' });
  });

  it.each([[['exp']], [['x-custom']], [[]]])('refuses crit %j (unknown critical extensions)', async (crit) => {
    const token = await signAsIdp(github, { crit, 'x-custom': 1 }, JSON.stringify(claims()));
    await expectRefused(h, await send(token), { status: 400, check: 'format' });
  });
});

describe('payload shapes', () => {
  it('refuses a nested JWT (cty JWT) even when the outer signature is the issuer\'s', async () => {
    const inner = await github.sign(claims());
    const token = await signAsIdp(github, { cty: 'JWT' }, inner);
    await expectRefused(h, await send(token), { status: 400, check: 'format' });
  });

  it.each(['[]', '"repo:acme/app:ref:refs/heads/main"', '123', 'null', 'true', '{"iss":', ''])(
    'refuses a genuinely signed non-object payload %j',
    async (payload) => {
      await expectRefused(h, await send(await signAsIdp(github, {}, payload)), { status: 400, check: 'format' });
    },
  );

  it('refuses a payload with a duplicate-key trick for sub as whatever single claim set JSON.parse yields, never a union', async () => {
    const raw = JSON.stringify(claims()).replace('"sub":"repo:acme/app:ref:refs/heads/main"', '"sub":"repo:acme/app:ref:refs/heads/main","sub":"repo:evil/app:ref:refs/heads/main"');
    await expectRefused(h, await send(await signAsIdp(github, {}, raw)), { status: 400, check: 'policy' });
  });

  it('refuses a token over 16 KiB before decoding it', async () => {
    const big = await github.sign(claims({ padding: 'x'.repeat(17 * 1024) }));
    await expectRefused(h, await send(big), { status: 400, check: 'format' });
  });

  it('refuses a body over 64 KiB', async () => {
    const res = await h.app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=x&pad=${'a'.repeat(65 * 1024)}`,
    });
    await expectRefused(h, res, { status: 400, check: 'request' });
  });
});

describe('signatures', () => {
  it('refuses a stripped signature', async () => {
    const [head, payload] = (await github.sign(claims())).split('.');
    await expectRefused(h, await send(`${head}.${payload}.`), { status: 400, check: 'signature' });
  });

  it('refuses a signature swapped in from another genuine token', async () => {
    const [, , sig] = (await github.sign(claims({ run_id: '1' }))).split('.');
    const [head, payload] = (await github.sign(claims({ run_id: '2' }))).split('.');
    await expectRefused(h, await send(`${head}.${payload}.${sig}`), { status: 400, check: 'signature' });
  });

  it('refuses genuine claims re-signed by another key under the issuer\'s kid', async () => {
    await expectRefused(h, await send(await github.sign(claims(), { foreignKey: true, kid: github.kid })), { status: 400, check: 'signature' });
  });

  it('refuses an escalated payload under a genuine header and signature', async () => {
    const [head, , sig] = (await github.sign(claims())).split('.');
    await expectRefused(h, await send(`${head}.${b64(claims({ repository_owner: 'acme', sub: 'repo:acme/admin:ref:refs/heads/main' }))}.${sig}`), { status: 400, check: 'signature' });
  });
});

describe('issuers', () => {
  it.each([
    ['a trailing slash', (iss: string) => `${iss}/`],
    ['upper case', (iss: string) => iss.toUpperCase()],
    ['localhost for 127.0.0.1', (iss: string) => iss.replace('127.0.0.1', 'localhost')],
    ['a look-alike host', (iss: string) => iss.replace('127.0.0.1', '127.0.0.1.evil.example')],
    ['a percent-encoded dot', (iss: string) => iss.replace('127.0.0.1', '127%2e0.0.1')],
    ['https for http', (iss: string) => iss.replace('http:', 'https:')],
    ['a path suffix', (iss: string) => `${iss}/../`],
    ['a non-string iss', () => ['x']],
  ])('refuses %s', async (_name, mutate) => {
    const token = await github.sign(claims({ iss: mutate(github.issuer) as never }));
    await expectRefused(h, await send(token), { status: 400, check: ['issuer', 'format'] });
  });
});

describe('time', () => {
  it('refuses a far-future exp (ten years) as an absurd lifetime', async () => {
    const body = await expectRefused(h, await send(await github.sign(claims({ exp: NOW + 10 * 365 * 86400 }))), { status: 400, check: 'expiry' });
    expect(h.audits().at(-1)!.error).toBe('ERR_TOKEN_LIFETIME_TOO_LONG');
    expect(body.error_description).toMatch(/expires in/);
  });

  it('refuses a token issued two days ago that has not expired', async () => {
    await expectRefused(h, await send(await github.sign(claims({ iat: NOW - 2 * 86400, nbf: NOW - 2 * 86400 }))), { status: 400, check: 'issued_at' });
    expect(h.audits().at(-1)!.error).toBe('ERR_TOKEN_TOO_OLD');
  });

  it.each([['a string exp', { exp: String(NOW + 300) }], ['a negative iat', { iat: -1 }], ['a null sub', { sub: null }]])('refuses %s', async (_name, o) => {
    await expectRefused(h, await send(await github.sign(claims(o))), { status: 400 });
  });

  it('refuses an exp of 1e999 (Infinity once parsed)', async () => {
    const raw = JSON.stringify(claims({ exp: 0 })).replace('"exp":0', '"exp":1e999');
    await expectRefused(h, await send(await signAsIdp(github, {}, raw)), { status: 400, check: 'expiry' });
  });
});

describe('escalation', () => {
  it('refuses a scope the policy does not grant (invalid_scope)', async () => {
    await expectRefused(h, await send(await github.sign(claims()), { scope: 'argo:manage' }), { status: 400, error: 'invalid_scope', check: 'scope' });
  });
  it('refuses a namespace the policy does not grant', async () => {
    await expectRefused(h, await send(await github.sign(claims()), { namespace: 'kube-system' }), { status: 400, error: 'invalid_scope', check: 'namespace' });
  });
  it('refuses a union of policies: staging from one and argo:submit from another', async () => {
    await expectRefused(h, await send(await github.sign(claims()), { namespace: 'staging', scope: 'argo:submit' }), { status: 400, error: 'invalid_scope', check: 'scope' });
  });
  it('caps an escalated requested_ttl at the policy max_ttl instead of granting it', async () => {
    const res = await send(await github.sign(claims()), { requested_ttl: '86400' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { expires_in: number }).expires_in).toBe(900);
  });
  it.each(['-1', '0', '1e9', '0x10', '99999999999', ' 60'])('refuses requested_ttl %j', async (ttl) => {
    await expectRefused(h, await send(await github.sign(claims()), { requested_ttl: ttl }), { status: 400, check: 'request' });
  });
  it('refuses an unknown target', async () => {
    await expectRefused(h, await h.exchange({ subject_token: await github.sign(claims()), audience: 'kube-system' }), { status: 400, error: 'invalid_target' });
  });
  it('carries no act or groups claim from the subject token into the minted token', async () => {
    const res = await send(await github.sign(claims({ act: { sub: 'agents:agent-7' }, groups: ['system:masters'] })));
    const token = ((await res.json()) as { access_token: string }).access_token;
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.act).toBeUndefined();
    expect(payload.groups).toEqual(['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read']);
  });
});

describe('actor spoofing', () => {
  const agentClaims = (o: Record<string, unknown> = {}) => ({ iss: agents.issuer, sub: 'agent-7', aud: 'argo-sts', iat: NOW, exp: NOW + 300, ...o });
  const delegate = async (actor_token: string, extra: Record<string, string> = {}) =>
    send(await github.sign(claims()), { actor_token, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt', ...extra });

  it('serves the allowed actor, narrowed to its delegated scopes, with act and both identities audited', async () => {
    const res = await delegate(await agents.sign(agentClaims()));
    const body = (await res.json()) as { access_token: string; scope: string };
    expect(res.status).toBe(200);
    expect(body.scope).toBe('argo:read');
    const payload = JSON.parse(Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.act).toEqual({ sub: 'agents:agent-7' });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', actor: 'agents:agent-7', sub: 'repo:acme/app:ref:refs/heads/main' });
  });
  it('refuses the allowed actor asking for a scope beyond its delegation', async () => {
    await expectRefused(h, await delegate(await agents.sign(agentClaims()), { scope: 'argo:submit' }), { status: 400, error: 'invalid_scope' });
  });
  it('refuses the actor\'s subject from another idp (the subject\'s own issuer)', async () => {
    await expectRefused(h, await delegate(await github.sign(claims({ sub: 'agent-7' }))), { status: 400, check: 'policy' });
  });
  it('refuses an actor token signed by a key the agents issuer does not publish', async () => {
    await expectRefused(h, await delegate(await agents.sign(agentClaims(), { foreignKey: true })), { status: 400, check: 'signature' });
  });
  it('refuses an actor token from an untrusted issuer naming the allowed subject', async () => {
    await expectRefused(h, await delegate(await attackerToken(agentClaims({ iss: attacker.url }))), { status: 400, check: 'issuer' });
  });
  it('refuses an expired actor token', async () => {
    await expectRefused(h, await delegate(await agents.sign(agentClaims({ exp: NOW - 120 }))), { status: 400, check: 'expiry' });
  });
  it('refuses a subject token presented again as its own actor', async () => {
    const token = await github.sign(claims());
    await expectRefused(h, await send(token, { actor_token: token, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' }), { status: 400, check: 'policy' });
  });
  it('refuses an unsigned actor token', async () => {
    await expectRefused(h, await delegate(`${b64({ alg: 'none' })}.${b64(agentClaims())}.`), { status: 400, check: 'format' });
  });
  it('refuses an actor_token without delegation configured for the answering policy', async () => {
    await expectRefused(h, await delegate(await agents.sign(agentClaims()), { namespace: 'staging' }), { status: 400, check: 'policy' });
  });
});

async function attackerToken(payload: Record<string, unknown>): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RS256' }).sign(attacker.privateKey);
}
