/**
 * `argo-sts diagnose` as a specification: remote against a real broker on 127.0.0.1, local with
 * --config, and offline with only the token and its issuer's JWKS. Exit status by verdict.
 */
import { serve } from '@hono/node-server';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { buildHarness, type Harness } from '../support/app-harness.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { runCliCaptured } from '../support/run-cli.ts';

const NOW = 1_790_000_000;
let github: LoopbackIdp;
let h: Harness;
let server: Server;
let broker: string;
let dir: string;
let configFile: string;

function config(issuer: string): string {
  // reveal: full, so that a GitHub token outside every policy sees the trace (under verified, a
  // shared issuer's stranger learns no configured value).
  return `
issuer: https://sts.test.example
signing: { alg: ES256, keys: env:SIGNING_KEYS }
diagnose: { reveal: full }
idps:
  - { name: github, issuer: "${issuer}", audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
    delegation:
      actors:
        - { idp: github, subject: agent-7 }
`;
}

function cli(args: string[], stdin = '', env: Record<string, string> = {}) {
  return runCliCaptured(args, { env, stdin });
}

/** Claims relative to the real clock, for the modes that read it (offline, --config). */
function liveClaims(overrides: Record<string, unknown> = {}) {
  return fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer, ...overrides });
}

beforeAll(async () => {
  github = await startLoopbackIdp();
  const signingKeys = JSON.stringify(await generatePrivateJwks('ES256'));
  h = await buildHarness(config(github.issuer), { now: NOW, env: { SIGNING_KEYS: signingKeys } });
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: h.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server));
  });
  broker = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-diagnose-'));
  configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, config(github.issuer).replace('env:SIGNING_KEYS', 'generate'));
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await github.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('remote: argo-sts diagnose --broker URL asks POST /diagnose', () => {
  it('prints the failing issued_at check with its numbers and hint, and exits 1', async () => {
    const token = await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer, iat: NOW + 95 }));
    const { code, stdout } = await cli(['diagnose', '--broker', broker, '--audience', 'argo-prod', '-'], token);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^DENY: /);
    expect(stdout).toMatch(/✗ issued_at\s+the token was issued 95 s in the future/);
    expect(stdout).toContain('95 s, leeway 60 s');
    expect(stdout).toMatch(/hint: .*NTP/);
    expect(stdout).toContain('disclosure full (diagnose.reveal: full)');
    expect(stdout).not.toContain(token);
  });

  it('exits 0 with --json for a token that would be issued, reading ARGO_STS_URL and ARGO_STS_SUBJECT_TOKEN', async () => {
    const token = await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer }));
    const { code, stdout } = await cli(['diagnose', '--json', '--scope', 'argo:read'], '', { ARGO_STS_URL: broker, ARGO_STS_SUBJECT_TOKEN: token });
    expect(code).toBe(0);
    const body = JSON.parse(stdout) as { verdict: string; checks: { check: string; status: string }[] };
    expect(body.verdict).toBe('issue');
    expect(body.checks.map((c) => c.status)).toEqual(Array(11).fill('pass'));
  });

  it('shows the nearest policy and each failing clause', async () => {
    const token = await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer, sub: 'repo:acme/app:ref:refs/heads/dev' }));
    const { code, stdout } = await cli(['diagnose', '--broker', broker, token]);
    expect(code).toBe(1);
    expect(stdout).toContain('nearest policy: ci-main');
    expect(stdout).toContain('subject: expected repo:acme/app:ref:refs/heads/main, presented repo:acme/app:ref:refs/heads/dev');
  });

  it("takes the actor token, and after a refused delegation exchange's explain-it command keeps the actor and says deny", async () => {
    const env = {
      CI_ID_TOKEN: await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer })),
      AGENT_TOKEN: await github.sign(fixtureClaims('github-actions', NOW, { iss: github.issuer, sub: 'agent-9' })),
    };
    const refused = await cli(['exchange', '--broker', broker, '--audience', 'argo-prod', '--token-env', 'CI_ID_TOKEN', '--actor-token-env', 'AGENT_TOKEN'], '', env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('(check: policy)');
    const command = /explain it: (.*)/.exec(refused.stderr)?.[1] ?? '';
    expect(command).toBe(`argo-sts diagnose --broker ${broker} --audience argo-prod --actor-token-env AGENT_TOKEN --actor-token-type access_token --token-env CI_ID_TOKEN`);

    const explained = await cli([...command.split(' ').slice(1), '--json'], '', env);
    expect(explained.code).toBe(1);
    const body = JSON.parse(explained.stdout) as { verdict: string; checks: { check: string; status: string; cause?: string }[] };
    expect(body.verdict).toBe('deny');
    expect(body.checks.find((c) => c.check === 'policy')).toMatchObject({ status: 'fail', cause: 'policy.delegation' });
    const report = await cli(command.split(' ').slice(1), '', env);
    expect(report.stdout).toMatch(/^DENY: /);
    expect(report.stdout).not.toContain(env.AGENT_TOKEN);
  });

  it('exits 1 with a message when the broker cannot be reached', async () => {
    const { code, stderr } = await cli(['diagnose', '--broker', 'http://127.0.0.1:1', 'a.b.c']);
    expect(code).toBe(1);
    expect(stderr).toContain('could not be reached');
  });
});

describe('local: argo-sts diagnose --config FILE', () => {
  it('checks the actor token against the delegation rule with --actor-token-env', async () => {
    const env = { CI_ID_TOKEN: await github.sign(liveClaims()), AGENT_TOKEN: await github.sign(liveClaims({ sub: 'agent-9' })) };
    const { code, stdout } = await cli(['diagnose', '--config', configFile, '--token-env', 'CI_ID_TOKEN', '--actor-token-env', 'AGENT_TOKEN', '--json'], '', { ...env, SIGNING_KEYS: '' });
    expect(code).toBe(1);
    const body = JSON.parse(stdout) as { checks: { check: string; status: string; cause?: string }[] };
    expect(body.checks.find((c) => c.check === 'policy')).toMatchObject({ status: 'fail', cause: 'policy.delegation' });
  });

  it('runs the diagnosis against the config with everything disclosed', async () => {
    const token = await github.sign(liveClaims({ aud: 'https://github.com/acme' }));
    const { code, stdout } = await cli(['diagnose', '--config', configFile, '--audience', 'argo-prod', '--json', '-'], token);
    expect(code).toBe(1);
    const body = JSON.parse(stdout) as { disclosure: string; checks: { check: string; status: string; cause?: string; expected?: unknown }[] };
    expect(body.disclosure).toBe('full');
    expect(body.checks.find((c) => c.check === 'audience')).toMatchObject({ status: 'fail', cause: 'audience.github-default', expected: ['argo-sts'] });
  });
});

describe('offline: argo-sts diagnose without a broker', () => {
  it("verifies the signature with the issuer's JWKS and passes the times on this clock", async () => {
    const { code, stdout } = await cli(['diagnose', '--json', '-'], await github.sign(liveClaims()));
    expect(code).toBe(0);
    const body = JSON.parse(stdout) as { mode: string; verdict: string; checks: { check: string; status: string }[] };
    expect(body).toMatchObject({ mode: 'offline', verdict: 'unknown' });
    const status = Object.fromEntries(body.checks.map((c) => [c.check, c.status]));
    expect(status).toMatchObject({ format: 'pass', issuer: 'pass', signature: 'pass', expiry: 'pass', issued_at: 'pass', audience: 'skip', policy: 'skip' });
  });

  it('fails issued_at for a token issued 10 min in the future, with the skew and the --leeway in force', async () => {
    const { code, stdout } = await cli(['diagnose', '--leeway', '30s', '--json', '-'], await github.sign(liveClaims({ iat: Math.floor(Date.now() / 1000) + 600 })));
    expect(code).toBe(1);
    const iat = (JSON.parse(stdout) as { checks: { check: string; status: string; seconds: number; leeway_seconds: number }[] }).checks.find((c) => c.check === 'issued_at')!;
    expect(iat.status).toBe('fail');
    expect(iat.leeway_seconds).toBe(30);
    expect(iat.seconds).toBeGreaterThan(590);
  });

  it('fails signature for a token signed by a key its issuer does not publish', async () => {
    const { code, stdout } = await cli(['diagnose', '-'], await github.sign(liveClaims(), { foreignKey: true, kid: 'elsewhere' }));
    expect(code).toBe(1);
    expect(stdout).toMatch(/✗ signature/);
  });

  it('skips the signature, saying why, when the issuer cannot be reached', async () => {
    const unreachable = 'http://127.0.0.1:1';
    const { code, stdout } = await cli(['diagnose', '--json', '-'], await github.sign(liveClaims({ iss: unreachable })));
    expect(code).toBe(0);
    const signature = (JSON.parse(stdout) as { checks: { check: string; status: string; message: string }[] }).checks.find((c) => c.check === 'signature')!;
    expect(signature.status).toBe('skip');
    expect(signature.message).toContain('could not be fetched');
  });

  it('fails format for something that is not a JWT', async () => {
    const { code, stdout } = await cli(['diagnose', '-'], 'ghp_notajwt');
    expect(code).toBe(1);
    expect(stdout).toMatch(/✗ format/);
  });
});

describe('usage', () => {
  it('exits 2 without a token, and for --broker with --config', async () => {
    expect((await cli(['diagnose'])).code).toBe(2);
    expect((await cli(['diagnose', '--broker', broker, '--config', configFile, 'a.b.c'])).code).toBe(2);
    expect((await cli(['diagnose', '-'], '   ')).code).toBe(2);
  });

  it('is listed in argo-sts --help with its own --help', async () => {
    expect((await cli(['--help'])).stdout).toMatch(/diagnose\s+say exactly why a token is refused/);
    const help = await cli(['diagnose', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--broker URL');
  });
});
