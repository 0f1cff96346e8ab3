/**
 * A Keycloak agent (client credentials) acting for a Keycloak user: the broker mints a
 * delegated credential with the agent's narrower scopes, the real kube-apiserver authorizes
 * exactly those, and its audit log names both the person and the agent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canI, claimsOf, clientCredentialsGrant, eventually, execKubeconfig, kubeAuditEvents, kubectl, passwordGrant, removeScratch, secretFile, whoami } from './support.ts';

afterAll(removeScratch);

let aliceSub: string;
let agentSub: string;
let kubeconfig: string;

beforeAll(async () => {
  const alice = await passwordGrant('argo-cli', 'alice');
  const agent = await clientCredentialsGrant('agent-ci');
  aliceSub = claimsOf(alice.access_token).sub as string;
  agentSub = claimsOf(agent.access_token).sub as string;
  kubeconfig = execKubeconfig({ tokenFile: secretFile(alice.access_token), actorTokenFile: secretFile(agent.access_token), namespace: 'team-a', scopes: ['argo:read'] });
  await eventually(() => whoami(kubeconfig), (r) => r.user !== undefined, 90_000, 2000);
});

describe('an agent acting for a person', () => {
  it('reaches the cluster as the person, with the agent in extra argo-sts.io/actor', async () => {
    const { user } = await whoami(kubeconfig);
    expect(user!.username).toBe(`argo-sts:keycloak:${aliceSub}`);
    expect(user!.groups).toContain('argo-sts:team-a:argo:read');
    expect(user!.extra?.['argo-sts.io/actor']).toEqual([`keycloak:${agentSub}`]);
  });

  it("gets only the agent's narrower scope: read yes, submit and delete no", async () => {
    expect(await canI(kubeconfig, 'list', 'workflows.argoproj.io', 'team-a')).toBe('yes');
    expect(await canI(kubeconfig, 'create', 'workflows.argoproj.io', 'team-a')).toBe('no');
    expect(await canI(kubeconfig, 'delete', 'workflows.argoproj.io', 'team-a')).toBe('no');
  });

  it('is refused a scope the agent may not use on the person\'s behalf, although the person has it', async () => {
    const alice = await passwordGrant('argo-cli', 'alice');
    const agent = await clientCredentialsGrant('agent-ci');
    const wide = execKubeconfig({ tokenFile: secretFile(alice.access_token), actorTokenFile: secretFile(agent.access_token), namespace: 'team-a', scopes: ['argo:submit'] });
    const r = await kubectl(wide, ['auth', 'whoami']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('invalid_scope');
  });

  it("is named in kube-apiserver's audit log: the person as user, the agent in user.extra", async () => {
    const r = await kubectl(kubeconfig, ['-n', 'team-a', 'get', 'workflows.argoproj.io', '-o', 'name']);
    expect(r.code).toBe(0);
    const events = await eventually(
      async () => kubeAuditEvents((e) => e.user?.username === `argo-sts:keycloak:${aliceSub}` && e.objectRef?.resource === 'workflows' && e.verb === 'list' && e.stage === 'ResponseComplete'),
      (found) => found.length > 0, 20_000,
    );
    expect(events.at(-1)!.user.extra['argo-sts.io/actor']).toEqual([`keycloak:${agentSub}`]);
    expect(events.at(-1)!.responseStatus.code).toBe(200);
  });
});
