/**
 * A GitHub-shaped CI token (the stack's loopback issuer) exchanged with
 * `argo-sts exchange --format env`, and the real argo CLI talking to the real Argo Server in
 * client auth mode with those variables: what Argo created, what it labelled, and what the
 * real RBAC refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubectl, argo, argoSts, ciToken, eventually, parseEnv, removeScratch, secretFile, stack, TARGETS, whoami, tokenKubeconfig } from './support.ts';

afterAll(removeScratch);

const workflowFile = secretFile(`apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: stack-hello-
spec:
  entrypoint: main
  templates:
    - name: main
      container: { image: busybox, command: [echo, hello] }
`, 'workflow.yaml');

async function exchangeEnv(token: string, scopes: string[], namespace = 'ci'): Promise<Record<string, string>> {
  const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', TARGETS.oidc, '--namespace', namespace, ...scopes.flatMap((s) => ['--scope', s]),
    '--token-env', 'CI_ID_TOKEN', '--format', 'env'], { CI_ID_TOKEN: token });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return parseEnv(r.stdout);
}

let submitEnv: Record<string, string>;

beforeAll(async () => {
  submitEnv = await exchangeEnv(await ciToken(), ['argo:submit']);
  // Wait until kube-apiserver has the broker's keys (it fetches them in the background).
  const kubeconfig = tokenKubeconfig(submitEnv.ARGO_TOKEN!.slice('Bearer '.length));
  await eventually(() => whoami(kubeconfig), (r) => r.user !== undefined, 90_000, 2000);
});

describe('argo submit with the variables of argo-sts exchange --format env', () => {
  it('prints what the Argo CLI reads: ARGO_SERVER host:port, ARGO_SECURE, ARGO_HTTP1, ARGO_TOKEN "Bearer …", ARGO_NAMESPACE', () => {
    expect(Object.keys(submitEnv).sort()).toEqual(['ARGO_HTTP1', 'ARGO_NAMESPACE', 'ARGO_SECURE', 'ARGO_SERVER', 'ARGO_TOKEN']);
    expect(submitEnv.ARGO_SERVER).toBe(new URL(stack.argo.server).host);
    expect(submitEnv.ARGO_SECURE).toBe('true');
    expect(submitEnv.ARGO_NAMESPACE).toBe('ci');
    expect(submitEnv.ARGO_TOKEN).toMatch(/^Bearer ey/);
  });

  it('creates a workflow in the granted namespace, labelled by Argo with the minted subject', async () => {
    const r = await argo(submitEnv, ['submit', workflowFile, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const created = JSON.parse(r.stdout) as { metadata: { name: string; namespace: string } };
    expect(created.metadata.namespace).toBe('ci');
    const got = await adminKubectl(['-n', 'ci', 'get', 'workflow', created.metadata.name, '-o', 'json']);
    const labels = (JSON.parse(got.stdout) as { metadata: { labels: Record<string, string> } }).metadata.labels;
    expect(labels['workflows.argoproj.io/creator']).toBe('github-repo-acme-app-ref-refs-heads-main');
    expect(labels['workflows.argoproj.io/creator-preferred-username']).toBe('github-acme-app');
    expect(labels['workflows.argoproj.io/creator-email']).toBeUndefined();
  });

  it('is refused by the real RBAC in a namespace the credential was not granted', async () => {
    const r = await argo(submitEnv, ['submit', '-n', 'team-a', workflowFile]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/PermissionDenied|forbidden/);
    expect(r.stderr).toContain('cannot create resource "workflows" in API group "argoproj.io" in the namespace "team-a"');
  });

  it('refuses argo delete with only argo:submit', async () => {
    const submitted = await argo(submitEnv, ['submit', workflowFile, '-o', 'name']);
    expect(submitted.code).toBe(0);
    const name = submitted.stdout.trim();
    const r = await argo(submitEnv, ['delete', name]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('cannot delete resource "workflows" in API group "argoproj.io" in the namespace "ci"');
    const still = await adminKubectl(['-n', 'ci', 'get', 'workflow', name, '-o', 'name']);
    expect(still.stdout.trim()).toBe(`workflow.argoproj.io/${name}`);
  });
});

describe('Argo creator labels say where a workflow came from', () => {
  it('names the repository even when the subject is longer than a label', async () => {
    const repository = 'acme-platform-engineering/payments-reconciliation-service';
    const env = await exchangeEnv(await ciToken({ repository, sub: `repo:${repository}:environment:production`, repository_owner: 'acme-platform-engineering' }), ['argo:submit']);
    const r = await argo(env, ['submit', workflowFile, '-o', 'json']);
    expect(r.code).toBe(0);
    const name = (JSON.parse(r.stdout) as { metadata: { name: string } }).metadata.name;
    const got = await adminKubectl(['-n', 'ci', 'get', 'workflow', name, '-o', 'json']);
    const labels = (JSON.parse(got.stdout) as { metadata: { labels: Record<string, string> } }).metadata.labels;
    // Argo keeps the last 63 characters of the sanitized sub: the owner is lost there ...
    expect(labels['workflows.argoproj.io/creator']).toBe('ineering-payments-reconciliation-service-environment-production');
    // ... while the preferred_username argo-sts mints for a pipeline (github/<repository>, cut to
    // fit with a hash of the whole) keeps the idp and the owner.
    const named = labels['workflows.argoproj.io/creator-preferred-username']!;
    expect(named).toMatch(/^github-acme-platform-engineering-payments-reconciliati-[0-9a-f]{8}$/);
    expect(named).toHaveLength(63);
  });
});
