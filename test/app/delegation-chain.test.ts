/**
 * Delegation chains (RFC 8693 §4.1, §4.4): a subject token's own `act` is kept under the new
 * actor, `delegation.max_chain` bounds the actors, `may_act` restricts who may act, policies
 * match the chain's depth and members, and the audit event names every link.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { chainMembers, readChain } from '../../shared/policy/delegation-chain.ts';
import { evaluatePolicy } from '../../shared/policy/evaluate-policy.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { signingKeysEnv } from '../support/configs.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const NOW = 1_790_000_000;
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
let keycloak: LoopbackIdp;
let h: Harness;

function config(): string {
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: keycloak, issuer: ${keycloak.issuer}, audiences: [argo-sts], preset: keycloak }
targets:
  - { name: argo, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: chained-people
    idp: keycloak
    target: argo
    claims: { groups: platform-engineers, act_chain: { pattern: "service-account-*" } }
    namespaces: [dev]
    scopes: [argo:read]
    delegation:
      max_chain: 2
      actors:
        - { idp: keycloak, subject: agent-7 }
  - id: people
    idp: keycloak
    target: argo
    claims: { groups: platform-engineers }
    namespaces: [dev]
    scopes: [argo:read, argo:submit]
    delegation:
      actors:
        - { idp: keycloak, subject: agent-7 }
        - { idp: keycloak, subject: agent-8 }
`;
}

const alice = (o: Record<string, unknown> = {}) => fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer, ...o });
const agent = (sub: string) => fixtureClaims('keycloak-access-token', NOW, { iss: keycloak.issuer, sub, groups: [] });

async function exchange(subject: Record<string, unknown>, actor?: Record<string, unknown>, params: Record<string, string> = {}) {
  const res = await h.exchange({
    audience: 'argo',
    subject_token: await keycloak.sign(subject),
    ...(actor && { actor_token: await keycloak.sign(actor), actor_token_type: JWT }),
    ...params,
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

beforeAll(async () => {
  keycloak = await startLoopbackIdp({ path: '/realms/platform' });
  h = await buildHarness(config(), { now: NOW, env: await signingKeysEnv() });
});
afterAll(() => keycloak.close());

describe('delegation chains', () => {
  it('mints act = {sub: actor} for one level and audits the chain', async () => {
    const { status, body } = await exchange(alice(), agent('agent-7'));
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token!).act).toEqual({ sub: 'keycloak:agent-7' });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'issued', actor: 'keycloak:agent-7', actor_chain: ['keycloak:agent-7'] });
  });

  it("keeps the subject token's act nested under the new actor, within max_chain, reducing each link to sub and iss", async () => {
    const delegated = alice({ act: { sub: 'service-account-ci', iss: 'https://kc.example', email: 'dropped@example.com' } });
    const { status, body } = await exchange(delegated, agent('agent-7'));
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token!).act).toEqual({ sub: 'keycloak:agent-7', act: { sub: 'service-account-ci', iss: 'https://kc.example' } });
    expect(h.audits().at(-1)).toMatchObject({ policy: 'chained-people', actor_chain: ['keycloak:agent-7', 'service-account-ci'] });
  });

  it("with no actor token, the minted token keeps the subject token's act", async () => {
    const { status, body } = await exchange(alice({ act: { sub: 'service-account-ci' } }));
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token!).act).toEqual({ sub: 'service-account-ci' });
  });

  it('refuses a chain longer than max_chain (default 1) with ERR_DELEGATION_CHAIN_TOO_LONG', async () => {
    // chained-people does not match (act_chain is not a service account), people allows 1 actor.
    const { status, body } = await exchange(alice({ act: { sub: 'bot-1' } }), agent('agent-7'));
    expect({ status, error: body.error, check: body.check }).toEqual({ status: 400, error: 'invalid_request', check: 'policy' });
    expect(h.audits().at(-1)).toMatchObject({ decision: 'denied', error: 'ERR_DELEGATION_CHAIN_TOO_LONG', policy: 'people' });
    const three = await exchange(alice({ act: { sub: 'service-account-ci', act: { sub: 'service-account-x' } } }), agent('agent-7'));
    expect(three.status).toBe(400);
    expect(h.audits().at(-1)).toMatchObject({ error: 'ERR_DELEGATION_CHAIN_TOO_LONG', policy: 'chained-people' });
  });

  it('matches the chain by policy: act_chain members and act_depth', async () => {
    const matched = await exchange(alice({ act: { sub: 'service-account-ci' } }));
    expect(h.audits().at(-1)).toMatchObject({ policy: 'chained-people' });
    expect(matched.body.scope).toBe('argo:read');
    await exchange(alice());
    expect(h.audits().at(-1)).toMatchObject({ policy: 'people' });
  });

  it('honours may_act: an actor it names may act, another is refused', async () => {
    const named = await exchange(alice({ may_act: { sub: 'agent-8' } }), agent('agent-8'));
    expect(named.status).toBe(200);
    const other = await exchange(alice({ may_act: { sub: 'agent-8' } }), agent('agent-7'));
    expect({ status: other.status, error: other.body.error, check: other.body.check }).toEqual({ status: 400, error: 'invalid_request', check: 'policy' });
    expect(h.audits().at(-1)).toMatchObject({ error: 'ERR_DELEGATION_DENIED' });
    const nobody = await exchange(alice({ may_act: 'agent-8' }), agent('agent-8'));
    expect(nobody.status).toBe(400);
  });

  it('refuses a malformed or over-deep act, and a token that forges act_chain, with 400 never 500', async () => {
    let deep: Record<string, unknown> = { sub: 'x' };
    for (let i = 0; i < 9; i++) deep = { sub: `x${i}`, act: deep };
    for (const bad of [{ act: 'agent' }, { act: { iss: 'no-sub' } }, { act: deep }, { act_chain: ['service-account-ci'] }, { act_depth: 0 }]) {
      const { status, body } = await exchange(alice(bad));
      expect({ status, error: body.error }).toEqual({ status: 400, error: 'invalid_request' });
    }
  });

  it('refuses max_chain outside 1..8 at load', () => {
    expect(() => parseConfigText(config().replace('max_chain: 2', 'max_chain: 0'))).toThrow(/max_chain/);
    expect(() => parseConfigText(config().replace('max_chain: 2', 'max_chain: 9'))).toThrow(/max_chain/);
  });

  it("serves only undelegated subject tokens under condition: 'claims.act_depth == 0'", () => {
    const doc = config().replace('claims: { groups: platform-engineers, act_chain: { pattern: "service-account-*" } }', `claims: { groups: platform-engineers }\n    condition: 'claims.act_depth == 0'`);
    const cfg = parseConfigText(doc);
    const ask = (claims: Record<string, unknown>) => evaluatePolicy(cfg, { idp: 'keycloak', claims: { sub: 'alice', groups: ['platform-engineers'], ...claims }, target: 'argo', namespace: 'dev', scopes: ['argo:read'] }).grant?.policy.id;
    expect(ask({})).toBe('chained-people');
    expect(ask({ act: { sub: 'bot' } })).toBe('people');
  });

  it('reads chains as plain data', () => {
    const chain = readChain({ iss: 'https://idp', act: { sub: 'a', act: { sub: 'b', iss: 'https://i' } } });
    expect(chain).toEqual({ act: { sub: 'a', act: { sub: 'b', iss: 'https://i' } }, subs: ['a', 'b'] });
    expect(chainMembers({ sub: 'a', act: { sub: 'b' } })).toEqual(['a', 'b']);
  });
});
