/**
 * The kubernetes-tokenrequest target against the real TokenRequest API: the broker, holding only
 * its rendered narrow credential, gets a real ServiceAccount token with the configured audience
 * and the granted lifetime, and the real kube-apiserver accepts it as that ServiceAccount.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { argoSts, canI, ciToken, claimsOf, removeScratch, stack, TARGETS, tokenKubeconfig, whoami } from './support.ts';
import { TOKENREQUEST_AUDIENCE } from './stack.ts';

afterAll(removeScratch);

describe('kubernetes-tokenrequest', () => {
  it('returns a ServiceAccount token from the TokenRequest API with the target audience and the requested lifetime', async () => {
    const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', TARGETS.tokenRequest, '--namespace', 'ci', '--ttl', '15m', '--token-env', 'CI_ID_TOKEN', '--json'], { CI_ID_TOKEN: await ciToken() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const issued = JSON.parse(r.stdout) as { access_token: string; expires_in: number; namespace: string };
    const claims = claimsOf(issued.access_token);
    expect(claims.iss).toBe('https://kubernetes.default.svc.cluster.local');
    expect(claims.sub).toBe('system:serviceaccount:ci:argo-submitter');
    expect(claims.aud).toEqual([TOKENREQUEST_AUDIENCE]);
    expect(claims.exp - claims.iat).toBe(900);
    // expires_in is counted from the broker's clock to the API server's whole-second expiry, so it
    // can read one second over when the API server's iat second began after the broker's request.
    expect(issued.expires_in).toBeGreaterThan(890);
    expect(issued.expires_in).toBeLessThanOrEqual(901);

    const kubeconfig = tokenKubeconfig(issued.access_token);
    const { run, user } = await whoami(kubeconfig);
    expect(run.stderr).toBe('');
    expect(user!.username).toBe('system:serviceaccount:ci:argo-submitter');
    expect(user!.groups).toContain('system:serviceaccounts:ci');
    expect(await canI(kubeconfig, 'create', 'workflows.argoproj.io', 'ci')).toBe('yes');
    expect(await canI(kubeconfig, 'delete', 'workflows.argoproj.io', 'ci')).toBe('no');
    expect(await canI(kubeconfig, 'create', 'workflows.argoproj.io', 'team-a')).toBe('no');
  });

  it('asks for the TokenRequest API\'s 10-minute minimum when a client requests less', async () => {
    const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', TARGETS.tokenRequest, '--namespace', 'ci', '--ttl', '60s', '--token-env', 'CI_ID_TOKEN', '--json'], { CI_ID_TOKEN: await ciToken() });
    expect(r.code).toBe(0);
    const issued = JSON.parse(r.stdout) as { access_token: string };
    const claims = claimsOf(issued.access_token);
    expect(claims.exp - claims.iat).toBe(600);
  });
});
