/**
 * infra/helm/argo-sts/ as the real kube-apiserver takes it: `helm template` (helm built from its
 * Go module, test/support/install-helm.sh) applied with a server-side dry run, so every object is
 * validated by the apiserver's own schemas and admission, as `kubectl apply` would in a cluster.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminKubectl, extra, ROOT_DIR, run, stack } from './support.ts';

describe('the Helm chart', () => {
  it('renders objects the real kube-apiserver accepts (server-side dry run), each of them', async () => {
    const installed = await run('bash', [join(ROOT_DIR, 'test/support/install-helm.sh')], { timeoutMs: 15 * 60_000 });
    expect(installed.code).toBe(0);
    const helm = installed.stdout.trim();
    const rendered = await run(helm, ['template', 'sts', join(ROOT_DIR, 'infra/helm/argo-sts'), '--namespace', 'argo-sts']);
    expect(rendered.stderr).toBe('');
    expect(rendered.code).toBe(0);
    const kinds = [...rendered.stdout.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]);
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'ServiceAccount', 'PodDisruptionBudget', 'ConfigMap']));

    const applied = await run(join(extra.bin, 'kubectl'), [
      '--kubeconfig', stack.kube.admin_kubeconfig, 'apply', '--dry-run=server', '--namespace', 'argo-sts', '-f', '-',
    ], { input: rendered.stdout });
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const accepted = applied.stdout.split('\n').filter((line) => line.endsWith('(server dry run)'));
    expect(accepted).toHaveLength(kinds.length);
    // Nothing was created: a dry run (the stack's broker runs beside the cluster, not in it).
    const deployments = await adminKubectl(['get', 'deployments,services,poddisruptionbudgets', '--namespace', 'argo-sts', '-o', 'name']);
    expect(deployments.code).toBe(0);
    expect(deployments.stdout.trim()).toBe('');
  });
});
