/**
 * Rotating the broker's signing key as docs/key-rotation.md describes it for `file:` keys, while
 * the real kube-apiserver verifies: publish the new key first, wait until the apiserver has it,
 * then sign with it. Every broker-minted token is accepted throughout. And what the apiserver's
 * JWKS cache really does with a kid it has not seen: it does not refetch before the cache
 * (Cache-Control max-age=300 on /.well-known/jwks.json) is within 30 s of expiring.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeProtectedHeader, importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { argoSts, ciToken, claimsOf, extra, removeScratch, ROOT_DIR, stack, TARGETS, tokenKubeconfig, whoami } from './support.ts';

afterAll(removeScratch);

type Key = JWK & { kid: string };

function keySet(): Key[] {
  return (JSON.parse(readFileSync(extra.broker.signing_keys_file, 'utf8')) as { keys: Key[] }).keys;
}

function rollOut(keys: Key[]): void {
  writeFileSync(extra.broker.signing_keys_file, JSON.stringify({ keys }), { mode: 0o600 });
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'test/stack/stack.ts', 'restart-broker'], { cwd: ROOT_DIR, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

async function newKey(): Promise<Key> {
  const r = await argoSts(['keys', 'generate', '--alg', 'ES256']);
  return (JSON.parse(r.stdout) as { keys: Key[] }).keys[0]!;
}

async function mint(): Promise<string> {
  const r = await argoSts(['exchange', '--broker', stack.broker.url, '--audience', TARGETS.oidc, '--namespace', 'ci', '--token-env', 'CI_ID_TOKEN'], { CI_ID_TOKEN: await ciToken() });
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

async function accepted(token: string): Promise<boolean> {
  return (await whoami(tokenKubeconfig(token))).user !== undefined;
}

/** The same claims as a minted token, signed with `key` (a key the broker publishes but does not sign with yet). */
async function signedWith(key: Key, like: string): Promise<string> {
  return new SignJWT({ ...claimsOf(like), jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' }).sign(await importJWK(key, 'ES256'));
}

describe('signing key rotation against kube-apiserver', () => {
  it("publish, wait for the verifier, then sign: no broker-minted token is refused, and an unseen kid is not refetched", { timeout: 480_000 }, async () => {
    const [current] = keySet();
    const before = await mint();
    expect(await accepted(before)).toBe(true);

    // Step 1: the new key last in the set (published, not signing); roll it out.
    const next = await newKey();
    rollOut([current!, next]);
    // Wait until kube-apiserver verifies the new key: it refetches only when its cached copy is
    // within 30 s of the 300 s max-age, so this takes up to ~5 minutes. Broker tokens keep working.
    const started = Date.now();
    let learnedAfter = -1;
    const refusedBrokerTokens: number[] = [];
    while (Date.now() - started < 330_000) {
      const minted = await mint();
      expect(decodeProtectedHeader(minted).kid).toBe(current!.kid);
      if (!(await accepted(minted))) refusedBrokerTokens.push(Date.now() - started);
      if (await accepted(await signedWith(next, minted))) {
        learnedAfter = (Date.now() - started) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 5000));
    }
    expect(refusedBrokerTokens).toEqual([]);
    expect(learnedAfter).toBeGreaterThanOrEqual(0);
    expect(learnedAfter).toBeLessThanOrEqual(300);
    process.stderr.write(`key-rotation: kube-apiserver verified the newly published key after ${learnedAfter.toFixed(0)} s\n`);

    // Right after that refetch, another new key is not fetched on sight: unknown kid, refused.
    const unseen = await newKey();
    rollOut([current!, next, unseen]);
    expect(await accepted(await signedWith(unseen, await mint()))).toBe(false);

    // Step 2: the new key first (it signs); the old one stays published. Both verify at once.
    rollOut([next, current!]);
    const after = await mint();
    expect(decodeProtectedHeader(after).kid).toBe(next.kid);
    expect(await accepted(after)).toBe(true);
    expect(await accepted(before)).toBe(true);
  });
});
