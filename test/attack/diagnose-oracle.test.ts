/**
 * /diagnose as an oracle: anyone on GitHub or GitLab.com can mint a genuine token of those
 * issuers, so under `reveal: verified` a shared issuer's token learns configured values only for
 * the policies its identity matches, and nothing at all when it matches none (even with a wrong
 * audience or an expired token). The trace never lists another idp's policies.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/app-harness.ts';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { attackConfig, attackHarness, githubClaims, NOW } from './support.ts';

let github: LoopbackIdp;
let agents: LoopbackIdp;
let h: Harness;

/** The attack config plus a policy of the other idp and a deny policy with a condition. */
function config(extraIdp = ''): string {
  return attackConfig(github, agents, extraIdp).replace('policies:\n', `policies:
  - id: agents-direct
    idp: agents
    target: argo-dev
    subject: agent-secret-9
    namespaces: [agents-ns]
    scopes: [argo:read]
  - id: no-forks
    effect: deny
    idp: github
    subject_pattern: "repo:acme/*"
    condition: 'has(claims.head_ref) && claims.head_ref.startsWith("fork-secret")'
`);
}

/** Every value the config holds that a stranger's request does not carry itself (the audience as a value, not the CLI's name). */
const CONFIGURED = ['ci-main', 'ci-read', 'agents-direct', 'no-forks', 'repo:acme', 'acme', 'staging', 'argo:submit', 'agent-7', 'agent-secret-9', 'agents-ns', 'fork-secret', 'kubernetes', 'argo-dev', '"argo-sts"', '`argo-sts`'];

const STRANGER = { sub: 'repo:evil/x:ref:refs/heads/main', repository: 'evil/x', repository_owner: 'evil', repository_owner_id: '666', aud: 'https://github.com/evil' };

beforeAll(async () => {
  github = await startLoopbackIdp();
  agents = await startLoopbackIdp();
  h = await attackHarness(config());
});
afterAll(async () => {
  await Promise.all([github.close(), agents.close()]);
});

async function diagnose(harness: Harness, params: Record<string, string>): Promise<string> {
  const res = await harness.diagnose(params);
  expect(res.status).toBe(200);
  return res.text();
}

function traceOf(text: string): string[] {
  const body = JSON.parse(text) as { checks: { check: string; trace?: { policy: string }[] }[] };
  return body.checks.find((c) => c.check === 'policy')?.trace?.map((t) => t.policy) ?? [];
}

describe('/diagnose and shared issuers (preset github-actions)', () => {
  it.each([
    ['with a wrong audience', STRANGER],
    ['expired, with a wrong audience', { ...STRANGER, exp: NOW - 3600, iat: NOW - 7200 }],
    ['with the served audience', { ...STRANGER, aud: 'argo-sts' }],
  ])('a genuine token whose identity matches no policy learns no configured value (%s)', async (_case, overrides) => {
    const text = await diagnose(h, { subject_token: await github.sign(githubClaims(github, overrides)), audience: 'argo-prod', scope: 'argo:read', namespace: 'ci' });
    const body = JSON.parse(text) as { verdict: string; checks: Record<string, unknown>[] };
    expect(body.verdict).toBe('deny');
    for (const c of body.checks) {
      expect(c.expected).toBeUndefined();
      expect(c.policy).toBeUndefined();
      expect(c.mismatches).toBeUndefined();
      expect(c.trace).toBeUndefined();
    }
    const configured = overrides.aud === 'argo-sts' ? CONFIGURED.filter((v) => v !== '"argo-sts"') : CONFIGURED;
    for (const value of configured) expect(text).not.toContain(value);
  });

  it('a genuine token whose identity matches some policies sees only those policies', async () => {
    const other = githubClaims(github, { sub: 'repo:acme/other:ref:refs/heads/main', repository: 'acme/other' });
    const text = await diagnose(h, { subject_token: await github.sign(other), audience: 'argo-prod', scope: 'argo:submit' });
    expect(traceOf(text)).toEqual(['ci-read']);
    for (const value of ['ci-main', 'agents-direct', 'agent-secret-9', 'agents-ns', 'no-forks', 'fork-secret', 'repo:acme/app']) expect(text).not.toContain(value);
  });

  it('a genuine token that the answering policy serves sees that policy, not the others', async () => {
    const text = await diagnose(h, { subject_token: await github.sign(githubClaims(github)), audience: 'argo-prod' });
    expect(JSON.parse(text).verdict).toBe('issue');
    expect(traceOf(text).sort()).toEqual(['ci-main', 'ci-read']);
    for (const value of ['agents-direct', 'agent-secret-9', 'no-forks', 'fork-secret']) expect(text).not.toContain(value);
  });

  it('fuzz: whatever its claims, a genuine stranger token learns no configured value', async () => {
    const value = fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constantFrom('evil', 'x', 'push', 'main'));
    await fc.assert(fc.asyncProperty(
      fc.record({ repository_owner: value, ref: value, event_name: value, head_ref: value, environment: value }, { requiredKeys: [] }),
      fc.constantFrom('argo-prod', 'nope', ''),
      fc.constantFrom('argo:read', 'argo:manage', ''),
      async (claims, audience, scope) => {
        const text = await diagnose(h, { subject_token: await github.sign(githubClaims(github, { ...STRANGER, ...claims })), audience, scope });
        for (const v of CONFIGURED) expect(text).not.toContain(v);
      },
    ), { numRuns: 60 });
  });
});

describe('/diagnose and another idp\'s policies', () => {
  it('the trace of a (non-shared) idp lists only that idp\'s policies', async () => {
    const token = await agents.sign({ iss: agents.issuer, sub: 'agent-1', aud: 'argo-sts', iat: NOW, exp: NOW + 300 });
    const text = await diagnose(h, { subject_token: token, audience: 'argo-dev' });
    expect(traceOf(text)).toEqual(['agents-direct']);
    for (const value of ['ci-main', 'ci-read', 'repo:acme']) expect(text).not.toContain(value);
  });

  it('shared_issuer: true makes a generic idp\'s strangers learn nothing', async () => {
    const shared = await attackHarness(config().replace('{ name: agents, issuer: ', '{ name: agents, shared_issuer: true, issuer: '));
    const token = await agents.sign({ iss: agents.issuer, sub: 'agent-1', aud: 'argo-sts', iat: NOW, exp: NOW + 300 });
    const text = await diagnose(shared, { subject_token: token, audience: 'argo-dev' });
    expect(text).not.toContain('agent-secret-9');
    expect(text).not.toContain('agents-direct');
    expect(traceOf(text)).toEqual([]);
  });
});

describe('/diagnose audits verified identities only', () => {
  it.each(['verified', 'full'])('a forged token\'s iss, sub and claims never become the event\'s idp, iss, sub or context (reveal: %s)', async (reveal) => {
    const harness = reveal === 'verified' ? h : await attackHarness(config().replace('defaults:', 'diagnose: { reveal: full }\ndefaults:'));
    const forged = await github.sign(githubClaims(github, { sub: 'repo:acme/app:ref:refs/heads/main', repository: 'acme/app', actor: 'octocat' }), { foreignKey: true });
    expect((await harness.diagnose({ subject_token: forged, audience: 'argo-prod' })).status).toBe(200);
    const event = harness.audits().at(-1)!;
    expect(event).toMatchObject({ endpoint: 'diagnose', decision: 'diagnosed', check: 'signature' });
    expect(event.subject_token_sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const field of ['idp', 'iss', 'sub', 'context']) expect(event[field]).toBeUndefined();
    expect(JSON.stringify(event)).not.toContain('repo:acme/app');
  });

  it('a genuine token\'s verified iss and sub are the event\'s', async () => {
    expect((await h.diagnose({ subject_token: await github.sign(githubClaims(github)), audience: 'argo-prod' })).status).toBe(200);
    expect(h.audits().at(-1)).toMatchObject({ idp: 'github', iss: github.issuer, sub: 'repo:acme/app:ref:refs/heads/main' });
  });
});
