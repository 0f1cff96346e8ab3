/**
 * `argo-sts diagnose --cluster` against what the real kube-apiserver does with the same token and
 * the AuthenticationConfiguration it runs (the one `argo-sts render` wrote for the stack): the
 * verdict is "authenticated" exactly when `kubectl auth whoami` succeeds, and the user it maps is
 * the user the apiserver reports.
 */
import { join } from 'node:path';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argoSts, ciToken, claimsOf, eventually, extra, removeScratch, stack, TARGETS, tokenKubeconfig, whoami, type WhoAmI } from './support.ts';

afterAll(removeScratch);

const AUTHN_CONFIG = () => join(extra.kube.rendered, TARGETS.oidc, 'authentication-config.yaml');

interface ClusterVerdict {
  verdict: 'authenticated' | 'refused';
  user: { username: string; groups: string[]; uid: string; extra: Record<string, string[]> } | null;
  checks: { check: string; status: string }[];
}

async function diagnoseCluster(token: string): Promise<{ code: number; result: ClusterVerdict }> {
  const r = await argoSts(['diagnose', '--cluster', AUTHN_CONFIG(), '--token-env', 'TOKEN_TO_CHECK', '--json'], { TOKEN_TO_CHECK: token });
  return { code: r.code, result: JSON.parse(r.stdout) as ClusterVerdict };
}

async function mint(target: string, extraArgs: string[] = []): Promise<string> {
  const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', target, '--namespace', 'ci', '--token-env', 'CI_ID_TOKEN', ...extraArgs], { CI_ID_TOKEN: await ciToken() });
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

/** The diagnosis and the apiserver agree: exit 0 exactly when whoami succeeds, and the same user. */
async function expectAgreement(token: string): Promise<{ diagnosis: ClusterVerdict; user: WhoAmI | undefined }> {
  const [{ code, result }, { user }] = await Promise.all([diagnoseCluster(token), whoami(tokenKubeconfig(token))]);
  expect(code === 0).toBe(user !== undefined);
  expect(result.verdict).toBe(user ? 'authenticated' : 'refused');
  if (user) {
    expect(result.user!.username).toBe(user.username);
    expect([...result.user!.groups].sort()).toEqual([...user.groups].sort());
    expect(result.user!.extra).toEqual(user.extra ?? {});
  }
  return { diagnosis: result, user };
}

let good: string;

beforeAll(async () => {
  good = await mint(TARGETS.oidc);
  await eventually(() => whoami(tokenKubeconfig(good)), (r) => r.user !== undefined, 90_000, 2000);
});

describe('argo-sts diagnose --cluster agrees with the real kube-apiserver', () => {
  it('on a valid minted credential: authenticated, with the username, groups and extra whoami shows', async () => {
    const { user } = await expectAgreement(good);
    expect(user!.username).toBe(`argo-sts:${claimsOf(good).sub}`);
  });

  it('on a credential for another audience: refused at the audience check', async () => {
    const { diagnosis } = await expectAgreement(await mint(TARGETS.otherAudience));
    expect(diagnosis.checks.find((c) => c.check === 'audience')?.status).toBe('fail');
  });

  it('on an expired credential: refused at the expiry check', async () => {
    const token = await mint(TARGETS.oidc, ['--ttl', '2s']);
    await new Promise((r) => setTimeout(r, 4000));
    const { diagnosis } = await expectAgreement(token);
    expect(diagnosis.checks.find((c) => c.check === 'expiry')?.status).toBe('fail');
  });

  it('on a token signed by a key the broker never published: refused at the signature check', async () => {
    const claims = claimsOf(good);
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid: `${decodeProtectedHeader(good).kid}-other`, typ: 'JWT' }).sign(privateKey);
    const { diagnosis } = await expectAgreement(forged);
    expect(diagnosis.checks.find((c) => c.check === 'signature')?.status).toBe('fail');
  });
});
