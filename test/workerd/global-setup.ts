/**
 * Runs in Node before the workerd project: starts a loopback IdP and hands the worker its config
 * (through the ARGO_STS_CONFIG binding) and the tests the IdP's private key (through inject).
 */
import type { TestProject } from 'vitest/node';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { ciMainPolicy, workloadPolicies } from '../support/configs.ts';
import { startLoopbackIdp } from '../support/loopback-idp.ts';
import { startIdJagIssuer } from '../support/id-jag-issuer.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    workerdConfig: string;
    idpIssuer: string;
    idpPrivateJwk: string;
    workerdSigningKeys: string;
    clusterIssuer: string;
    clusterPrivateJwk: string;
    idJagIssuer: string;
    idJagPrivateJwk: string;
  }
}

export default async function setup(project: TestProject) {
  const idp = await startLoopbackIdp();
  // A cluster's ServiceAccount issuer (test/workerd/workload.test.ts).
  const cluster = await startLoopbackIdp({ path: '/k8s' });
  // An enterprise IdP that issues ID-JAGs by token exchange (test/workerd/jwt-bearer.test.ts).
  const enterprise = await startIdJagIssuer({ clients: { 'mcp-agent': 's3cret' } });
  const signingKeys = JSON.stringify(await generatePrivateJwks('ES256'));
  const config = {
    issuer: 'https://sts.workers.test',
    signing: { alg: 'ES256', keys: 'env:SIGNING_KEYS' },
    defaults: { ttl: '10m', max_ttl: '1h', clock_skew: '60s' },
    idps: [
      { name: 'github', issuer: idp.issuer, audiences: ['argo-sts'], preset: 'github-actions' },
      { name: 'cluster', issuer: cluster.issuer, audiences: ['argo-sts'], preset: 'kubernetes' },
      { name: 'corp', issuer: enterprise.issuer, audiences: ['argo-sts'] },
    ],
    targets: [{ name: 'argo-prod', kind: 'kubernetes-oidc', audience: 'kubernetes' }],
    policies: [ciMainPolicy(), ...workloadPolicies()],
    // The AUDIT_DB binding is a real (local) D1 database, declared in vitest.config.ts.
    audit: { sink: 'd1:AUDIT_DB' },
  };
  project.provide('workerdConfig', JSON.stringify(config));
  project.provide('workerdSigningKeys', signingKeys);
  project.provide('idpIssuer', idp.issuer);
  project.provide('idpPrivateJwk', JSON.stringify(idp.privateJwk));
  project.provide('clusterIssuer', cluster.issuer);
  project.provide('clusterPrivateJwk', JSON.stringify(cluster.privateJwk));
  project.provide('idJagIssuer', enterprise.issuer);
  project.provide('idJagPrivateJwk', JSON.stringify(enterprise.privateJwk));
  return async () => {
    await Promise.all([idp.close(), cluster.close(), enterprise.close()]);
  };
}
