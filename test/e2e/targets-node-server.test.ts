/**
 * `npm start` as an operator runs it, configured through the standard AWS environment variables:
 * signing keys and the cluster token from (loopback) Secrets Manager, a TokenRequest target and
 * an Entra OBO target — exchanged over HTTP against the loopback fakes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '../fakes/aws-secrets-manager.ts';
import { AKS_SERVER_APP, FAKE_TENANT, type FakeEntra, startFakeEntra } from '../fakes/entra.ts';
import { type FakeKubernetes, reviewToken, startFakeKubernetes } from '../fakes/kubernetes-api.ts';
import { fixtureClaims, type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { loopbackServerEnv, type SpawnedServer, spawnServer, spawnServerToExit } from '../support/spawn-server.ts';
import { idTokenExchangeForm } from '../support/token-requests.ts';

const { tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } = FAKE_TENANT;
const CLUSTER_TOKEN = 'broker-narrow-token';

let dir: string;
let aws: FakeSecretsManager;
let k8s: FakeKubernetes;
let entra: FakeEntra;
let github: LoopbackIdp;
let server: SpawnedServer;
let kid: string;

function config(): string {
  const meta = entra.msalMetadata();
  return JSON.stringify({
    issuer: 'https://sts.test.example',
    signing: { alg: 'ES256', keys: 'aws-secrets-manager:argo-sts/signing-keys' },
    idps: [
      { name: 'github', issuer: github.issuer, audiences: ['argo-sts'], preset: 'github-actions' },
      { name: 'entra', issuer: entra.issuer, audiences: [CLIENT_ID] },
    ],
    targets: [
      { name: 'argo-legacy', kind: 'kubernetes-tokenrequest', api_server: k8s.url, credentials: 'aws-secrets-manager:argo-sts/cluster#token' },
      {
        name: 'aks-obo', kind: 'entra-obo', tenant_id: TENANT, client_id: CLIENT_ID, client_secret: 'env:ENTRA_SECRET',
        authority: meta.authority, authority_metadata: meta.authorityMetadata, cloud_discovery_metadata: meta.cloudDiscoveryMetadata,
      },
    ],
    policies: [
      { id: 'ci', idp: 'github', target: 'argo-legacy', subject: 'repo:acme/app:ref:refs/heads/main', namespaces: ['ci'], scopes: ['argo:submit'], service_account: 'argo-submitter' },
      { id: 'people', idp: 'entra', target: 'aks-obo', claims: { tid: TENANT }, namespaces: ['default'], scopes: ['k8s:view'] },
    ],
  });
}

function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  const path = join(dir, 'argo-sts.json');
  writeFileSync(path, config());
  return loopbackServerEnv(path, { ENTRA_SECRET: CLIENT_SECRET, ...aws.env, ...extra });
}

async function exchange(params: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}/token`, {
    method: 'POST',
    body: idTokenExchangeForm(params),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-targets-e2e-'));
  [aws, github] = await Promise.all([startFakeSecretsManager(), startLoopbackIdp()]);
  k8s = await startFakeKubernetes({ brokerToken: CLUSTER_TOKEN, serviceAccounts: ['ci/argo-submitter'], allowed: ['ci/argo-submitter'] });
  entra = await startFakeEntra({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  const keys = await generatePrivateJwks('ES256');
  kid = keys.keys[0]!.kid!;
  aws.put('argo-sts/signing-keys', JSON.stringify(keys));
  aws.put('argo-sts/cluster', JSON.stringify({ token: CLUSTER_TOKEN }));
  server = await spawnServer(serverEnv());
});

afterAll(async () => {
  await server?.stop();
  await Promise.all([aws?.close(), k8s?.close(), entra?.close(), github?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm start with AWS settings from the environment', () => {
  it('publishes the key set staged AWSCURRENT', async () => {
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([kid]);
    expect(aws.requests.some((r) => r.body.SecretId === 'argo-sts/signing-keys' && r.body.VersionStage === 'AWSPREVIOUS')).toBe(true);
  });

  it('exchanges a CI token for a ServiceAccount token the cluster accepts', async () => {
    const now = Math.floor(Date.now() / 1000);
    const subject = await github.sign(fixtureClaims('github-actions', now, { iss: github.issuer }));
    const res = await exchange({ subject_token: subject, audience: 'argo-legacy' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; expires_in: number };
    expect(body.expires_in).toBeGreaterThanOrEqual(599);
    expect(decodeProtectedHeader(body.access_token).kid).toBe('fake-sa-key');
    expect(await reviewToken(k8s.url, CLUSTER_TOKEN, body.access_token, [])).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:ci:argo-submitter' } });
    const stdout = server.stdout.join('\n');
    expect(stdout).not.toContain(body.access_token);
    expect(stdout).not.toContain(CLUSTER_TOKEN);
  });

  it('exchanges an Entra token on behalf of the user for an AKS token', async () => {
    const res = await exchange({ subject_token: await entra.userToken(), audience: 'aks-obo' });
    expect(res.status).toBe(200);
    expect(decodeJwt(((await res.json()) as { access_token: string }).access_token)).toMatchObject({ aud: AKS_SERVER_APP, upn: 'ada@contoso.example' });
  });

  it('refuses to start when Secrets Manager rejects its credentials, naming the secret but no key', async () => {
    const exited = await spawnServerToExit(serverEnv({ AWS_SECRET_ACCESS_KEY: 'wrong-secret-access-key' }));
    expect(exited.code).toBe(2);
    const stderr = exited.stderr.join('\n');
    expect(stderr).toContain('secret aws-secrets-manager:argo-sts/signing-keys: GetSecretValue (AWSCURRENT) failed: InvalidSignatureException');
    expect(stderr).not.toContain('wrong-secret-access-key');
  });
});
