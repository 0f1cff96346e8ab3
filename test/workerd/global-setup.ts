/**
 * Runs in Node before the workerd project: starts a loopback IdP and hands the worker its config
 * (through the ARGO_STS_CONFIG binding) and the tests the IdP's private key (through inject).
 */
import type { TestProject } from 'vitest/node';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { ciMainPolicy } from '../support/configs.ts';
import { startLoopbackIdp } from '../support/loopback-idp.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    workerdConfig: string;
    idpIssuer: string;
    idpPrivateJwk: string;
    workerdSigningKeys: string;
  }
}

export default async function setup(project: TestProject) {
  const idp = await startLoopbackIdp();
  const signingKeys = JSON.stringify(await generatePrivateJwks('ES256'));
  const config = {
    issuer: 'https://sts.workers.test',
    signing: { alg: 'ES256', keys: 'env:SIGNING_KEYS' },
    defaults: { ttl: '10m', max_ttl: '1h', clock_skew: '60s' },
    idps: [{ name: 'github', issuer: idp.issuer, audiences: ['argo-sts'], preset: 'github-actions' }],
    targets: [{ name: 'argo-prod', kind: 'kubernetes-oidc', audience: 'kubernetes' }],
    policies: [ciMainPolicy()],
    // The AUDIT_DB binding is a real (local) D1 database, declared in vitest.config.ts.
    audit: { sink: 'd1:AUDIT_DB' },
  };
  project.provide('workerdConfig', JSON.stringify(config));
  project.provide('workerdSigningKeys', signingKeys);
  project.provide('idpIssuer', idp.issuer);
  project.provide('idpPrivateJwk', JSON.stringify(idp.privateJwk));
  return async () => {
    await idp.close();
  };
}
