/**
 * The CI integrations run as the CI systems run them: the exchange step of the GitHub composite
 * action (infra/github-action/action.yml) in bash with GITHUB_ENV / GITHUB_OUTPUT files and a
 * loopback GitHub Actions token endpoint, and the GitLab template's before_script
 * (infra/gitlab/argo-sts.gitlab-ci.yml) in sh with an id_tokens: variable — both against a real
 * broker on loopback. The scripts are read from the YAML files themselves.
 */
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ActionsTokenEndpoint, startActionsTokenEndpoint } from '../../cli/demo/github-actions-runner.ts';
import type { NodeServer } from '../../functions/node/start-server.ts';
import { startInProcessBroker } from '../support/in-process-broker.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);
let github: LoopbackIdp;
let gitlab: LoopbackIdp;
let actions: ActionsTokenEndpoint;
let broker: NodeServer;
let dir: string;
let githubPath: string;
const auditLines: Record<string, any>[] = [];
/** The Node 24 running this test, first on PATH, as setup-node would put it. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-ci-'));
  githubPath = join(dir, 'github_path');
  github = await startLoopbackIdp();
  gitlab = await startLoopbackIdp();
  actions = await startActionsTokenEndpoint((audience) => github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer, aud: audience })));
  broker = await startInProcessBroker(`
issuer: http://127.0.0.1/sts
signing: { alg: ES256, keys: generate }
idps:
  - { name: github, issuer: ${github.issuer}, audiences: [argo-sts], preset: github-actions }
  - { name: gitlab, issuer: ${gitlab.issuer}, audiences: [argo-sts], preset: gitlab }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes, argo_server: "https://argo.example.com/argo" }
policies:
  - { id: github-ci, idp: github, target: argo-prod, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:submit, argo:read] }
  - { id: gitlab-ci, idp: gitlab, target: argo-prod, subject_pattern: "project_path:platform/*", namespaces: [ci], scopes: [argo:submit] }
`, auditLines);
});

afterAll(async () => {
  await broker?.close();
  await actions?.close();
  await github?.close();
  await gitlab?.close();
  await rm(dir, { recursive: true, force: true });
});

function envFileLines(text: string): Record<string, string> {
  return Object.fromEntries(text.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe('the GitHub composite action', () => {
  it('installs argo-sts from its own checkout: npm ci of the runtime dependencies there, its bin first on PATH', async () => {
    const action = parse(await readFile(join(REPO_ROOT, 'infra/github-action/action.yml'), 'utf8'));
    const step = action.runs.steps.find((s: { name?: string }) => s.name === "Install argo-sts from the action's checkout");
    // A stand-in npm that records its arguments: the real `npm ci --omit=dev` would prune this checkout.
    const fakeBin = join(dir, 'fake-npm');
    await mkdir(fakeBin);
    await writeFile(join(fakeBin, 'npm'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${join(dir, 'npm-args')}"\n`, { mode: 0o755 });
    await mkdir(join(dir, 'runner-temp'));
    await writeFile(githubPath, '');
    await exec('bash', ['-c', step.run], {
      env: { PATH: `${fakeBin}:${PATH}`, HOME: dir, GITHUB_ACTION_PATH: join(REPO_ROOT, 'infra/github-action'), RUNNER_TEMP: join(dir, 'runner-temp'), GITHUB_PATH: githubPath },
    });
    expect((await readFile(join(dir, 'npm-args'), 'utf8')).trim().split('\n')).toEqual(['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefix', REPO_ROOT.replace(/\/$/, '')]);
    const [binDir, ...rest] = (await readFile(githubPath, 'utf8')).trim().split('\n');
    expect(rest).toEqual([]);
    expect(realpathSync(join(binDir!, 'argo-sts'))).toBe(join(REPO_ROOT, 'bin/argo-sts.js'));
  });

  it('exports ARGO_TOKEN ("Bearer …"), ARGO_SERVER, ARGO_SECURE, ARGO_BASE_HREF and ARGO_NAMESPACE to GITHUB_ENV, masking the token', async () => {
    const action = parse(await readFile(join(REPO_ROOT, 'infra/github-action/action.yml'), 'utf8'));
    const step = action.runs.steps.find((s: { id?: string }) => s.id === 'exchange');
    expect(Object.keys(step.env).sort()).toEqual(['ARGO_STS_URL', 'INPUT_ARGO_SERVER', 'INPUT_AUDIENCE', 'INPUT_NAMESPACE', 'INPUT_REASON', 'INPUT_SCOPE', 'INPUT_TOKEN_AUDIENCE', 'INPUT_TTL']);
    const githubEnv = join(dir, 'github_env');
    const githubOutput = join(dir, 'github_output');
    await writeFile(githubEnv, '');
    await writeFile(githubOutput, '');
    const { stdout } = await exec('bash', ['-c', step.run], {
      env: {
        // What the install step put on GITHUB_PATH, before the Node 24 of setup-node.
        PATH: `${(await readFile(githubPath, 'utf8')).trim()}:${PATH}`, HOME: dir, ...actions.env,
        GITHUB_ACTION_PATH: join(REPO_ROOT, 'infra/github-action'), GITHUB_ENV: githubEnv, GITHUB_OUTPUT: githubOutput,
        ARGO_STS_URL: broker.url, INPUT_AUDIENCE: 'argo-prod', INPUT_SCOPE: 'argo:submit', INPUT_NAMESPACE: '', INPUT_TTL: '15m',
        INPUT_TOKEN_AUDIENCE: 'argo-sts', INPUT_ARGO_SERVER: '', INPUT_REASON: 'nightly build of acme/app',
      },
    });
    const exported = envFileLines(await readFile(githubEnv, 'utf8'));
    expect(exported).toMatchObject({ ARGO_NAMESPACE: 'ci', ARGO_SERVER: 'argo.example.com:443', ARGO_SECURE: 'true', ARGO_HTTP1: 'true', ARGO_BASE_HREF: '/argo' });
    expect(exported.ARGO_TOKEN).toMatch(/^Bearer eyJ/);
    expect(stdout).toContain(`::add-mask::${exported.ARGO_TOKEN!.slice('Bearer '.length)}`);
    expect(await readFile(githubOutput, 'utf8')).toBe('namespace=ci\n');
    expect(auditLines.at(-1)).toMatchObject({ decision: 'issued', policy: 'github-ci', ttl: 900, request_reason: 'nightly build of acme/app' });
  });
});

describe('the GitLab CI template', () => {
  it('exchanges the id_tokens: variable and leaves the ARGO_* variables set for the job script', async () => {
    const template = parse(await readFile(join(REPO_ROOT, 'infra/gitlab/argo-sts.gitlab-ci.yml'), 'utf8'));
    const job = template['.argo-sts'];
    expect(job.id_tokens.ARGO_STS_ID_TOKEN.aud).toBe('argo-sts');
    const script = `${(job.before_script as string[]).join('\n')}\nprintf '%s\\n' "$ARGO_TOKEN" "$ARGO_SERVER" "$ARGO_NAMESPACE" "\${ARGO_STS_ID_TOKEN:-unset}"`;
    const idToken = await gitlab.sign(fixtureClaims('gitlab-ci', Math.floor(Date.now() / 1000), { iss: gitlab.issuer }));
    // The image's installed `argo-sts` (the template's default ARGO_STS_CLI), first on PATH.
    const installed = join(dir, 'gitlab-bin');
    await mkdir(installed);
    await symlink(join(REPO_ROOT, 'bin/argo-sts.js'), join(installed, 'argo-sts'));
    expect(job.variables.ARGO_STS_CLI).toBe('argo-sts');
    const { stdout } = await exec('sh', ['-c', script], {
      env: {
        PATH: `${installed}:${PATH}`, HOME: dir, ...job.variables,
        ARGO_STS_ID_TOKEN: idToken, ARGO_STS_URL: broker.url, ARGO_STS_AUDIENCE: 'argo-prod', ARGO_STS_SCOPE: 'argo:submit',
        CI_PIPELINE_ID: '4242', CI_JOB_ID: '777', CI_PROJECT_PATH: 'platform/pipelines', CI_COMMIT_SHORT_SHA: 'a1b2c3d4',
      },
    });
    const [token, server, namespace, idTokenAfter] = stdout.trim().split('\n');
    expect(token).toMatch(/^Bearer eyJ/);
    expect({ server, namespace, idTokenAfter }).toEqual({ server: 'argo.example.com:443', namespace: 'ci', idTokenAfter: 'unset' });
    expect(auditLines.at(-1)).toMatchObject({ decision: 'issued', policy: 'gitlab-ci', request_reason: 'GitLab pipeline 4242 job 777 (platform/pipelines@a1b2c3d4)' });
  });
});
