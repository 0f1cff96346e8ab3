/**
 * infra/helm/argo-sts/ as `helm template` renders it (helm built from its Go module by
 * test/support/install-helm.sh): the objects DESIGN.md names, each valid against the Kubernetes
 * OpenAPI schemas (kubernetes-models), wired to each other (selectors, ports, the config mount, the
 * secret references), locked down (non-root, read-only root filesystem), and a config document the
 * broker itself accepts (`argo-sts config check`).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(REPO_ROOT, 'infra/helm/argo-sts');
/** Bounds a cold build of helm (about 5.5 minutes measured on 2 shared cores); warm it is seconds. */
const HELM_INSTALL_MS = 15 * 60_000;
const exec = promisify(execFile);

type Doc = Record<string, any>;
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  ConfigMap, Service, ServiceAccount, Deployment, Ingress, PodDisruptionBudget,
};

let helm: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-helm-'));
  const { stdout } = await exec('bash', [join(REPO_ROOT, 'test/support/install-helm.sh')], { timeout: HELM_INSTALL_MS, maxBuffer: 16 * 1024 * 1024 });
  helm = stdout.trim().split('\n').pop()!;
}, HELM_INSTALL_MS + 10_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function render(values: Doc = {}): Promise<Doc[]> {
  const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, JSON.stringify(values));
  const { stdout } = await exec(helm, ['template', 'sts', CHART, '--namespace', 'argo-sts', '--values', file], { timeout: 60_000 });
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as Doc).filter(Boolean);
}

const find = (docs: Doc[], kind: string) => docs.find((doc) => doc.kind === kind)!;

describe('helm template with the default values', () => {
  let docs: Doc[];
  beforeAll(async () => {
    docs = await render();
  });

  it('passes helm lint', async () => {
    const { stdout } = await exec(helm, ['lint', CHART], { timeout: 60_000 });
    expect(stdout).toContain('0 chart(s) failed');
  });

  it('renders a ServiceAccount, a ConfigMap, a Service, a Deployment and a PodDisruptionBudget, each valid', () => {
    expect(docs.map((doc) => doc.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    for (const doc of docs) expect(() => new MODELS[doc.kind]!(doc).validate(), `${doc.kind} ${doc.metadata.name}`).not.toThrow();
  });

  it('runs two replicas of `argo-sts serve` on the config from the ConfigMap, with probes on /healthz and /readyz', () => {
    const deployment = find(docs, 'Deployment');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(deployment.spec.replicas).toBe(2);
    expect(container.args).toEqual(['serve', '--config', '/etc/argo-sts/config.yaml', '--host', '0.0.0.0', '--port', '8787']);
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8787, protocol: 'TCP' }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const configMount = container.volumeMounts.find((m: Doc) => m.mountPath === '/etc/argo-sts');
    expect(pod.volumes.find((v: Doc) => v.name === configMount.name).configMap.name).toBe(find(docs, 'ConfigMap').metadata.name);
    expect(deployment.spec.template.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('takes the signing keys from a Secret and writes only to emptyDirs, as a non-root user on a read-only root filesystem', () => {
    const pod = find(docs, 'Deployment').spec.template.spec;
    const [container] = pod.containers;
    expect(container.env).toEqual([{ name: 'ARGO_STS_SIGNING_KEYS', valueFrom: { secretKeyRef: { name: 'argo-sts-signing-keys', key: 'signing.jwks.json' } } }]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 });
    expect(container.securityContext).toEqual({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    const writable = container.volumeMounts.filter((m: Doc) => !m.readOnly).map((m: Doc) => pod.volumes.find((v: Doc) => v.name === m.name));
    expect(writable.map((v: Doc) => Object.keys(v).filter((k) => k !== 'name'))).toEqual([['emptyDir'], ['emptyDir']]);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe(find(docs, 'ServiceAccount').metadata.name);
  });

  it('selects the Deployment\'s pods from the Service and the PodDisruptionBudget', () => {
    const labels = find(docs, 'Deployment').spec.template.metadata.labels;
    const service = find(docs, 'Service');
    expect(labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    const pdb = find(docs, 'PodDisruptionBudget');
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(pdb.spec.minAvailable).toBe(1);
  });

  it('puts a config in the ConfigMap that `argo-sts config check` accepts', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, find(docs, 'ConfigMap').data['config.yaml']);
    const { stdout } = await exec('npx', ['argo-sts', 'config', 'check', '--config', file], { cwd: REPO_ROOT, timeout: 60_000 });
    expect(stdout).toMatch(/^config ok: issuer https:\/\/sts\.example\.com;/);
  });

  it('tags the image with the package version', () => {
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')).appVersion).toBe(version);
    expect(find(docs, 'Deployment').spec.template.spec.containers[0].image).toBe(`registry.example.com/platform/argo-sts:${version}`);
  });
});

describe('helm template with an Ingress, TLS, a database Secret and one replica', () => {
  let docs: Doc[];
  beforeAll(async () => {
    docs = await render({
      replicaCount: 1,
      ingress: { enabled: true, className: 'nginx', host: 'sts.example.com', tls: { secretName: 'sts-tls' } },
      database: { existingSecret: 'argo-sts-db', key: 'url' },
      extraEnv: [{ name: 'ENTRA_CLIENT_SECRET', valueFrom: { secretKeyRef: { name: 'entra', key: 'secret' } } }],
    });
  });

  it('ends TLS at a valid Ingress for the host, routed to the Service', () => {
    const ingress = find(docs, 'Ingress');
    expect(() => new Ingress(ingress as never).validate()).not.toThrow();
    expect(ingress.spec.tls).toEqual([{ hosts: ['sts.example.com'], secretName: 'sts-tls' }]);
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: find(docs, 'Service').metadata.name, port: { name: 'http' } });
  });

  it('passes the database URL and extra secrets as env from Secrets, and drops the PodDisruptionBudget', () => {
    const env = find(docs, 'Deployment').spec.template.spec.containers[0].env as Doc[];
    expect(env.map((e) => [e.name, e.valueFrom.secretKeyRef.name])).toEqual([
      ['ARGO_STS_SIGNING_KEYS', 'argo-sts-signing-keys'], ['ARGO_STS_DATABASE_URL', 'argo-sts-db'], ['ENTRA_CLIENT_SECRET', 'entra'],
    ]);
    expect(docs.map((doc) => doc.kind)).not.toContain('PodDisruptionBudget');
  });
});
