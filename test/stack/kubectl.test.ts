/**
 * A Keycloak user's token, exchanged at argo-sts through `argo-sts kubectl credential` as
 * kubectl's exec plugin, against the real kube-apiserver: who it says the user is, and what each
 * scope lets the user do, in the granted namespace and in another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, canI, claimsOf, eventually, execKubeconfig, passwordGrant, removeScratch, secretFile, whoami } from './support.ts';

afterAll(removeScratch);

let aliceSub: string;
let aliceTokenFile: string;

beforeAll(async () => {
  const tokens = await passwordGrant('argo-cli', 'alice');
  aliceSub = claimsOf(tokens.access_token).sub as string;
  aliceTokenFile = secretFile(tokens.access_token);
});

describe('kubectl auth whoami through the argo-sts exec plugin', () => {
  it('shows argo-sts:keycloak:<sub>, the argo-sts:<ns>:<scope> groups and the credential id the broker issued', async () => {
    const kubeconfig = execKubeconfig({ tokenFile: aliceTokenFile, namespace: 'team-a', scopes: ['argo:read', 'k8s:view'] });
    // kube-apiserver fetches the issuer's discovery and keys in the background after it starts.
    const { run, user } = await eventually(() => whoami(kubeconfig), (r) => r.user !== undefined, 90_000, 2000);
    expect(run.stderr).toBe('');
    expect(user!.username).toBe(`argo-sts:keycloak:${aliceSub}`);
    expect([...user!.groups].sort()).toEqual(['argo-sts:team-a:argo:read', 'argo-sts:team-a:k8s:view', 'system:authenticated']);
    const credentialId = user!.extra?.['authentication.kubernetes.io/credential-id'];
    expect(credentialId).toHaveLength(1);
    const issued = auditEvents().filter((e) => e.decision === 'issued' && e.idp === 'keycloak' && e.sub === aliceSub).map((e) => `JTI=${e.jti as string}`);
    expect(issued).toContain(credentialId![0]);
    expect(user!.extra?.['argo-sts.io/actor']).toBeUndefined();
  });
});

describe('kubectl auth can-i answers what each scope promises, in its namespace only', () => {
  const cases: { scope: string; yes: [string, string][]; no: [string, string][] }[] = [
    {
      scope: 'argo:read',
      yes: [['get', 'workflows.argoproj.io'], ['list', 'workflowtemplates.argoproj.io'], ['watch', 'cronworkflows.argoproj.io'], ['get', 'pods'], ['get', 'pods/log'], ['watch', 'events']],
      no: [['create', 'workflows.argoproj.io'], ['delete', 'workflows.argoproj.io'], ['get', 'secrets'], ['create', 'pods']],
    },
    {
      scope: 'argo:submit',
      yes: [['create', 'workflows.argoproj.io'], ['list', 'workflows.argoproj.io']],
      no: [['delete', 'workflows.argoproj.io'], ['update', 'workflows.argoproj.io'], ['delete', 'pods'], ['get', 'secrets']],
    },
    {
      scope: 'argo:manage',
      yes: [['create', 'workflows.argoproj.io'], ['delete', 'workflows.argoproj.io'], ['patch', 'workflowtemplates.argoproj.io'], ['delete', 'pods']],
      no: [['get', 'secrets'], ['create', 'rolebindings.rbac.authorization.k8s.io']],
    },
    {
      scope: 'k8s:view',
      yes: [['get', 'configmaps'], ['list', 'pods'], ['list', 'workflows.argoproj.io']],
      no: [['get', 'secrets'], ['create', 'configmaps'], ['create', 'workflows.argoproj.io']],
    },
  ];
  for (const { scope, yes, no } of cases) {
    it(`${scope}: yes to ${yes.map((v) => v.join(' ')).join(', ')}; no to ${no.map((v) => v.join(' ')).join(', ')}; nothing in team-b`, async () => {
      const kubeconfig = execKubeconfig({ tokenFile: aliceTokenFile, namespace: 'team-a', scopes: [scope] });
      await eventually(() => whoami(kubeconfig), (r) => r.user !== undefined, 90_000, 2000);
      const answers: Record<string, string> = {};
      for (const [verb, resource] of [...yes, ...no]) answers[`${verb} ${resource}`] = await canI(kubeconfig, verb, resource, 'team-a');
      for (const [verb, resource] of yes) answers[`${verb} ${resource} -n team-b`] = await canI(kubeconfig, verb, resource, 'team-b');
      const expected: Record<string, string> = {};
      for (const [verb, resource] of yes) expected[`${verb} ${resource}`] = 'yes';
      for (const [verb, resource] of no) expected[`${verb} ${resource}`] = 'no';
      for (const [verb, resource] of yes) expected[`${verb} ${resource} -n team-b`] = 'no';
      expect(answers).toEqual(expected);
    });
  }
});
