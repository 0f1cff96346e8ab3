/**
 * `argo-sts exchange` as a CI job runs it: a real broker on loopback (Node adapter), a
 * GitHub-shaped issuer, and a loopback stand-in for GitHub Actions' OIDC token endpoint that
 * behaves like GitHub's (cli/demo/github-actions-runner.ts: bearer request token required, the
 * `audience` query parameter becomes the token's `aud`, answer `{"value": "<jwt>"}`). The CLI runs in-process through runCli, and once
 * as the real `argo-sts` binary.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActionsTokenEndpoint, startActionsTokenEndpoint } from '../../cli/demo/github-actions-runner.ts';
import type { NodeServer } from '../../functions/node/start-server.ts';
import { startInProcessBroker } from '../support/in-process-broker.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { runCliCaptured } from '../support/run-cli.ts';

let github: LoopbackIdp;
let broker: NodeServer;
let actions: ActionsTokenEndpoint;
let dir: string;
const auditLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-cli-'));
  github = await startLoopbackIdp();
  actions = await startActionsTokenEndpoint((audience) => github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer, aud: audience })));
  broker = await startInProcessBroker(`
issuer: http://127.0.0.1/sts
signing: { alg: ES256, keys: generate }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes, argo_server: "https://argo.example.com" }
  - { name: argo-dev, kind: kubernetes-oidc, audience: kubernetes-dev }
policies:
  - id: ci-main
    idp: github
    target: argo-prod
    subject: repo:acme/app:ref:refs/heads/main
    namespaces: [ci]
    scopes: [argo:submit, argo:read]
    max_ttl: 15m
`, auditLines);
});

afterAll(async () => {
  await broker?.close();
  await actions?.close();
  await github?.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}, stdin = '') {
  return runCliCaptured(args, { env: { HOME: dir, XDG_CACHE_HOME: join(dir, 'cache'), ...env }, stdin });
}

const actionsEnv = () => ({ ...actions.env, ARGO_STS_URL: broker.url });

async function verifyMinted(token: string) {
  const jwks = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`));
  return (await jwtVerify(token, jwks, { issuer: 'http://127.0.0.1/sts', audience: 'kubernetes' })).payload;
}

describe('argo-sts exchange in a GitHub Actions job', () => {
  it('requests the job token with the bearer request token and audience, and prints a credential the broker\'s keys verify', async () => {
    actions.requests.length = 0;
    const { code, stdout, stderr } = await cli(['exchange', '--audience', 'argo-prod', '--scope', 'argo:submit', '--namespace', 'ci'], actionsEnv());
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(actions.requests).toEqual([{ authorization: `bearer ${actions.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}`, audience: 'argo-sts' }]);
    const claims = await verifyMinted(stdout.trim());
    expect(claims).toMatchObject({ sub: 'github:repo:acme/app:ref:refs/heads/main', namespace: 'ci', scope: 'argo:submit', groups: ['argo-sts:ci:argo:submit'] });
    const audit = auditLines.at(-1)!;
    expect(audit).toMatchObject({ decision: 'issued', policy: 'ci-main', user_agent: 'argo-sts-cli/0.1' });
  });

  it('writes an env file (mode 0600) that a shell sources into ARGO_TOKEN="Bearer …", ARGO_SERVER host:port and ARGO_NAMESPACE', async () => {
    const file = join(dir, 'argo.env');
    const { code, stdout } = await cli(['exchange', '--audience', 'argo-prod', '--format', 'env', '--output', file, '--ttl', '5m'], actionsEnv());
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const { stdout: sourced } = await promisify(execFile)('bash', ['-c', `set -a; . "${file}"; printf '%s\\n' "$ARGO_SERVER" "$ARGO_SECURE" "$ARGO_NAMESPACE" "$ARGO_TOKEN"`], { env: {} });
    const [server, secure, namespace, argoToken] = sourced.trim().split('\n');
    expect({ server, secure, namespace }).toEqual({ server: 'argo.example.com:443', secure: 'true', namespace: 'ci' });
    expect(argoToken).toMatch(/^Bearer eyJ/);
    const claims = await verifyMinted(argoToken!.slice('Bearer '.length));
    expect(claims.exp! - claims.iat!).toBe(300);
  });

  it('tells the job what to fix when GitHub refuses the request token', async () => {
    const { code, stderr } = await cli(['exchange', '--audience', 'argo-prod'], { ...actionsEnv(), ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'stale' });
    expect(code).toBe(1);
    expect(stderr).toContain('answered HTTP 401');
    expect(stderr).toContain('id-token: write');
  });
});

describe('argo-sts exchange --format exec-credential (kubectl)', () => {
  it('prints a client.authentication.k8s.io/v1 ExecCredential and reuses it from a 0600 cache file until it nears expiry', async () => {
    const tokenFile = join(dir, 'subject.jwt');
    await writeFile(tokenFile, await github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer })));
    const args = ['exchange', '--broker', broker.url, '--audience', 'argo-prod', '--namespace', 'ci', '--token-file', tokenFile, '--format', 'exec-credential'];
    const issuedBefore = auditLines.filter((l) => l.decision === 'issued').length;

    const first = await cli(args);
    expect(first.code).toBe(0);
    const credential = JSON.parse(first.stdout);
    expect(credential).toMatchObject({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential' });
    expect(credential.status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const claims = await verifyMinted(credential.status.token);
    expect(new Date(credential.status.expirationTimestamp).getTime() / 1000).toBeCloseTo(claims.exp!, -1);

    const second = await cli(args);
    expect(JSON.parse(second.stdout).status.token).toBe(credential.status.token);
    expect(auditLines.filter((l) => l.decision === 'issued').length).toBe(issuedBefore + 1);

    const cacheDir = join(dir, 'cache', 'argo-sts');
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    const files = await readdir(cacheDir);
    expect(files).toHaveLength(1);
    expect((await stat(join(cacheDir, files[0]!))).mode & 0o777).toBe(0o600);
    expect(files[0]).not.toContain(credential.status.token.slice(0, 20));

    const uncached = await cli([...args, '--no-cache']);
    expect(JSON.parse(uncached.stdout).status.token).not.toBe(credential.status.token);

    // A cached credential 30 s from expiry is not handed to kubectl: a fresh one replaces it.
    const cacheFile = join(cacheDir, files[0]!);
    const entry = JSON.parse(await readFile(cacheFile, 'utf8'));
    await writeFile(cacheFile, JSON.stringify({ ...entry, expiresAt: Date.now() + 30_000 }));
    const refreshed = await cli(args);
    expect(JSON.parse(refreshed.stdout).status.token).not.toBe(credential.status.token);
    expect(JSON.parse(await readFile(cacheFile, 'utf8')).expiresAt).toBeGreaterThan(Date.now() + 500_000);
    expect(auditLines.filter((l) => l.decision === 'issued').length).toBe(issuedBefore + 3);
  });

  it('writes a kubeconfig whose context carries the namespace and the minted token', async () => {
    const subject = await github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer }));
    const { code, stdout } = await cli(['exchange', '--broker', broker.url, '--audience', 'argo-prod', '--token-file', '-', '--format', 'kubeconfig', '--server', 'https://k8s.example.com:6443'], {}, `${subject}\n`);
    expect(code).toBe(0);
    expect(stdout).toContain('server: "https://k8s.example.com:6443"');
    expect(stdout).toContain('namespace: ci');
    await verifyMinted(/token: (\S+)/.exec(stdout)![1]!);
  });
});

describe('argo-sts exchange refusals', () => {
  it('prints the broker\'s error, its request_id and a diagnose command that explains it, and exits 1', async () => {
    const env = {
      ARGO_STS_URL: broker.url,
      CI_ID_TOKEN: await github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer })),
    };
    const { code, stdout, stderr } = await cli(['exchange', '--audience', 'argo-prod', '--namespace', 'prod', '--token-env', 'CI_ID_TOKEN'], env);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('invalid_scope (check: namespace)');
    const requestId = /request_id: ([0-9a-f-]{36})/.exec(stderr)?.[1];
    expect(auditLines.find((l) => l.request_id === requestId)).toMatchObject({ decision: 'denied' });
    expect(stderr).toContain(`explain it: argo-sts diagnose --broker ${broker.url} --audience argo-prod --namespace prod --token-env CI_ID_TOKEN`);

    const explained = await cli(['diagnose', '--broker', broker.url, '--audience', 'argo-prod', '--namespace', 'prod', '--token-env', 'CI_ID_TOKEN', '--json'], env);
    expect(explained.code).toBe(1);
    const diagnosis = JSON.parse(explained.stdout);
    expect(diagnosis.verdict).toBe('deny');
    expect(diagnosis.checks.find((c: { check: string }) => c.check === 'namespace')).toMatchObject({ status: 'fail' });
  });

  it('exits 2 with usage when no broker or no token source is given, and 1 when the broker is unreachable', async () => {
    expect((await cli(['exchange', '--token-env', 'X'], { X: 'a.b.c' })).code).toBe(2);
    const none = await cli(['exchange', '--broker', broker.url]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no identity token');
    const down = await cli(['exchange', '--broker', 'http://127.0.0.1:1', '--token-env', 'X'], { X: 'a.b.c' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('could not be reached');
  });
});

describe('the argo-sts binary', () => {
  it('exchanges from a simulated GitHub Actions job and writes the env file', async () => {
    const file = join(dir, 'bin.env');
    const { stderr } = await promisify(execFile)('npx', ['argo-sts', 'exchange', '--audience', 'argo-prod', '--format', 'env', '--output', file], {
      env: { ...process.env, ...actionsEnv() },
    });
    expect(stderr).toContain(`to ${file}`);
    expect(await readFile(file, 'utf8')).toMatch(/^ARGO_TOKEN="Bearer eyJ[^"]+"\nARGO_SERVER="argo.example.com:443"\nARGO_SECURE="true"\nARGO_HTTP1="true"\nARGO_NAMESPACE="ci"\n$/);
  });
});
