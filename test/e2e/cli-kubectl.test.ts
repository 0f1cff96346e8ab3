/**
 * `argo-sts kubectl credential` (exchange --format exec-credential) as kubectl's exec credential plugin, with the real
 * kubectl (client.authentication.k8s.io/v1) against a loopback stand-in for the Kubernetes API
 * server that authenticates bearer tokens the way kube-apiserver's JWT authenticator does for a
 * broker it trusts (signature from the issuer's JWKS, `iss`, `aud: kubernetes`, expiry) and
 * answers 401 with a Status otherwise. It serves TLS with a certificate made by openssl for the
 * run: kubectl sends no credentials to a plain-http server. kubectl runs the plugin before every request; the
 * plugin's file cache means one exchange serves both calls.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeServer } from '../../functions/node/start-server.ts';
import { githubViewConfig, startInProcessBroker } from '../support/in-process-broker.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KUBECTL = '/usr/bin/kubectl';
let github: LoopbackIdp;
let broker: NodeServer;
let apiServer: Server;
let apiUrl: string;
let caData: string;
let dir: string;
const auditLines: Record<string, any>[] = [];
const seen: { path: string; sub?: string; status: number }[] = [];

async function startApiServer(): Promise<void> {
  const [key, cert] = [join(dir, 'api-key.pem'), join(dir, 'api-cert.pem')];
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  caData = (await readFile(cert)).toString('base64');
  // A generous fetch timeout: on a loaded CI host jose's 5 s default can expire and read as a 401.
  const jwks = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`), { timeoutDuration: 30_000 });
  apiServer = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const reply = (status: number, body: unknown, sub?: string) => {
      seen.push({ path: req.url ?? '', sub, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (!token) return reply(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
    jwtVerify(token, jwks, { issuer: 'http://127.0.0.1/sts', audience: 'kubernetes' }).then(
      ({ payload }) => reply(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] }, payload.sub),
      () => reply(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 }),
    );
  });
  await new Promise<void>((resolve) => apiServer.listen(0, '127.0.0.1', resolve));
  apiUrl = `https://127.0.0.1:${(apiServer.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argo-sts-kubectl-'));
  github = await startLoopbackIdp();
  broker = await startInProcessBroker(githubViewConfig(github.issuer), auditLines);
  await startApiServer();
});

afterAll(async () => {
  await new Promise<void>((resolve) => apiServer?.close(() => resolve()));
  await broker?.close();
  await github?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('kubectl with argo-sts as its exec credential plugin', () => {
  it('authenticates to the API server with the exchanged token, exchanging once for two kubectl calls', async () => {
    expect(existsSync(KUBECTL), `${KUBECTL} is needed: this test runs the real kubectl`).toBe(true);
    const tokenFile = join(dir, 'id_token');
    await writeFile(tokenFile, await github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer })));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'demo', cluster: { server: apiUrl, 'certificate-authority-data': caData } }],
      users: [{
        name: 'argo-sts',
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            interactiveMode: 'Never',
            command: process.execPath,
            args: ['--disable-warning=ExperimentalWarning', join(REPO_ROOT, 'cli/argo-sts.ts'), 'kubectl', 'credential', '--broker', broker.url,
              '--audience', 'argo-prod', '--namespace', 'ci', '--token-file', tokenFile],
            env: [{ name: 'XDG_CACHE_HOME', value: join(dir, 'cache') }],
          },
        },
      }],
      contexts: [{ name: 'demo', context: { cluster: 'demo', user: 'argo-sts', namespace: 'ci' } }],
      'current-context': 'demo',
    }));
    const kubectl = (path: string) =>
      promisify(execFile)(KUBECTL, ['--kubeconfig', kubeconfig, 'get', '--raw', path], { env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir } });

    expect(JSON.parse((await kubectl('/api/v1/namespaces/ci/pods')).stdout)).toMatchObject({ kind: 'PodList' });
    expect(JSON.parse((await kubectl('/api/v1/namespaces/ci/pods?limit=1')).stdout)).toMatchObject({ kind: 'PodList' });

    // kubectl also asks for /version; every request carried the exchanged token.
    expect(seen.filter((s) => s.path.startsWith('/api/v1/namespaces/ci/pods')).map((s) => s.path)).toEqual(['/api/v1/namespaces/ci/pods', '/api/v1/namespaces/ci/pods?limit=1']);
    expect(new Set(seen.map((s) => `${s.status} ${s.sub}`))).toEqual(new Set(['200 github:repo:acme/app:ref:refs/heads/main']));
    expect(auditLines.filter((l) => l.decision === 'issued')).toHaveLength(1);
  });
});
