/**
 * What the real kube-apiserver refuses (401 Unauthorized): an argo-sts token that has expired,
 * one minted for another target's audience, one signed by a key the broker does not publish,
 * and one whose lifetime exceeds the rendered exp - iat rule.
 */
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argoSts, ciToken, claimsOf, eventually, extra, removeScratch, stack, TARGETS, tokenKubeconfig, whoami } from './support.ts';

afterAll(removeScratch);

async function mint(target: string, extraArgs: string[] = []): Promise<string> {
  const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', target, '--namespace', 'ci', '--token-env', 'CI_ID_TOKEN', ...extraArgs], { CI_ID_TOKEN: await ciToken() });
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

let good: string;

beforeAll(async () => {
  good = await mint(TARGETS.oidc);
  await eventually(() => whoami(tokenKubeconfig(good)), (r) => r.user !== undefined, 90_000, 2000);
});

async function refusal(token: string): Promise<string> {
  const { run, user } = await whoami(tokenKubeconfig(token));
  expect(user).toBeUndefined();
  return run.stderr;
}

/** Signs claims as the broker would, with a given key (the broker's own, or one it never published). */
async function sign(claims: Record<string, unknown>, key: JWK & { kid: string }): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' }).sign(await importJWK(key, 'ES256'));
}

/** The broker's private key that signed `good`. */
function brokerKey(): JWK & { kid: string } {
  const { keys } = JSON.parse(readFileSync(extra.broker.signing_keys_file, 'utf8')) as { keys: (JWK & { kid: string })[] };
  return keys.find((k) => k.kid === decodeProtectedHeader(good).kid)!;
}

describe('kube-apiserver refuses', () => {
  it('a control: the same kind of token, valid, is accepted', async () => {
    const { user } = await whoami(tokenKubeconfig(good));
    expect(user!.groups).toContain('argo-sts:ci:argo:submit');
  });

  it('an expired argo-sts token', async () => {
    const token = await mint(TARGETS.oidc, ['--ttl', '2s']);
    expect(claimsOf(token).exp - claimsOf(token).iat).toBe(2);
    await new Promise((r) => setTimeout(r, 4000));
    expect(await refusal(token)).toContain('Unauthorized');
  });

  it('a token minted for another target (audience)', async () => {
    const token = await mint(TARGETS.otherAudience);
    expect(claimsOf(token).aud).toBe('https://another-cluster.stack.test');
    expect(await refusal(token)).toContain('Unauthorized');
  });

  it('a token signed by a key the broker does not publish, even with a published kid', async () => {
    const claims = claimsOf(good);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const foreign = { ...(await exportJWK(privateKey)), kid: 'never-published' };
    expect(await refusal(await sign({ ...claims, jti: crypto.randomUUID() }, foreign))).toContain('Unauthorized');
    expect(await refusal(await sign({ ...claims, jti: crypto.randomUUID() }, { ...foreign, kid: brokerKey().kid }))).toContain('Unauthorized');
  });

  it('a token signed with the broker\'s own key but living longer than defaults.max_ttl (the rendered exp - iat rule)', async () => {
    const claims = claimsOf(good);
    const now = Math.floor(Date.now() / 1000);
    const key = brokerKey();
    const withinRule = await sign({ ...claims, jti: crypto.randomUUID(), iat: now, nbf: now, exp: now + 3600 }, key);
    expect((await whoami(tokenKubeconfig(withinRule))).user?.username).toBe(`argo-sts:${claims.sub as string}`);
    expect(await refusal(await sign({ ...claims, jti: crypto.randomUUID(), iat: now, nbf: now, exp: now + 3601 }, key))).toContain('Unauthorized');
  });
});
