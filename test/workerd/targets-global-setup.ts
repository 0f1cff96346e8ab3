/**
 * Runs in Node before the workerd project: starts the loopback fakes of AWS Secrets Manager,
 * the Kubernetes API and Entra ID, and hands targets.test.ts a config that uses all of them
 * (signing keys from Secrets Manager, a TokenRequest target, both Entra targets) plus the
 * bindings the Worker reads (AWS_* and the referenced secrets).
 */
import type { TestProject } from 'vitest/node';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { startFakeSecretsManager } from '../fakes/aws-secrets-manager.ts';
import { FAKE_TENANT, startFakeEntra } from '../fakes/entra.ts';
import { startFakeKubernetes } from '../fakes/kubernetes-api.ts';
import { startLoopbackIdp } from '../support/loopback-idp.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    targetsConfig: string;
    /** JSON: the Worker bindings (AWS_*, CLUSTER_TOKEN, ENTRA_SECRET). */
    targetsBindings: string;
    targetsIdpIssuer: string;
    targetsIdpPrivateJwk: string;
    /** An Entra user access token for the broker's app, valid for an hour. */
    entraUserToken: string;
    kubernetesUrl: string;
    /** JSON: the kids of the key set staged AWSCURRENT. */
    awsSigningKid: string;
  }
}

const { tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } = FAKE_TENANT;
export const WORKERD_CLUSTER_TOKEN = 'broker-narrow-token';

export default async function setup(project: TestProject) {
  const [idp, aws, k8s, entra] = await Promise.all([
    startLoopbackIdp(),
    startFakeSecretsManager(),
    startFakeKubernetes({ brokerToken: WORKERD_CLUSTER_TOKEN, serviceAccounts: ['ci/argo-submitter'], allowed: ['ci/argo-submitter'] }),
    startFakeEntra({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
  ]);
  const keys = await generatePrivateJwks('ES256');
  aws.put('argo-sts/signing-keys', JSON.stringify(keys));
  aws.put('argo-sts/cluster', JSON.stringify({ token: WORKERD_CLUSTER_TOKEN }));
  const meta = entra.msalMetadata();
  const entraTarget = (name: string, kind: string) => ({
    name, kind, tenant_id: TENANT, client_id: CLIENT_ID, client_secret: 'env:ENTRA_SECRET',
    authority: meta.authority, authority_metadata: meta.authorityMetadata, cloud_discovery_metadata: meta.cloudDiscoveryMetadata,
  });
  const config = {
    issuer: 'https://sts.workers.test',
    signing: { alg: 'ES256', keys: 'aws-secrets-manager:argo-sts/signing-keys' },
    defaults: { ttl: '10m', max_ttl: '1h', clock_skew: '60s' },
    idps: [
      { name: 'github', issuer: idp.issuer, audiences: ['argo-sts'], preset: 'github-actions' },
      { name: 'entra', issuer: entra.issuer, audiences: [CLIENT_ID] },
    ],
    targets: [
      { name: 'argo-legacy', kind: 'kubernetes-tokenrequest', api_server: k8s.url, credentials: 'aws-secrets-manager:argo-sts/cluster#token', audiences: ['https://argo.example.com'] },
      entraTarget('aks-obo', 'entra-obo'),
      entraTarget('aks-sp', 'entra-client-credentials'),
    ],
    policies: [
      { id: 'ci-legacy', idp: 'github', target: 'argo-legacy', subject: 'repo:acme/app:ref:refs/heads/main', namespaces: ['ci'], scopes: ['argo:submit'], service_account: 'argo-submitter' },
      { id: 'people-aks', idp: 'entra', target: ['aks-obo', 'aks-sp'], claims: { tid: TENANT }, namespaces: ['default'], scopes: ['k8s:view'] },
    ],
  };
  project.provide('targetsConfig', JSON.stringify(config));
  project.provide('targetsBindings', JSON.stringify({ ...aws.env, ENTRA_SECRET: CLIENT_SECRET }));
  project.provide('targetsIdpIssuer', idp.issuer);
  project.provide('targetsIdpPrivateJwk', JSON.stringify(idp.privateJwk));
  project.provide('entraUserToken', await entra.userToken());
  project.provide('kubernetesUrl', k8s.url);
  project.provide('awsSigningKid', keys.keys[0]!.kid!);
  return async () => {
    await Promise.all([idp.close(), aws.close(), k8s.close(), entra.close()]);
  };
}
