import { createHash, generateKeyPairSync } from 'node:crypto';
import { CompactSign, compactVerify, createLocalJWKSet, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SigningAlgorithm } from '../../shared/config/schema.ts';
import { generatePrivateJwks, generateSigningKeys, loadSigningKeys, SigningKeyError, type SigningKeys } from '../../shared/keys/signing-keys.ts';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** One private JWK of a generated set, with its kid, alg and use. */
async function privateJwk(alg: SigningAlgorithm): Promise<JWK> {
  return (await generatePrivateJwks(alg)).keys[0]!;
}

function withoutMembers(jwk: JWK, ...members: string[]): JWK {
  const copy: Record<string, unknown> = { ...jwk };
  for (const member of members) delete copy[member];
  return copy as JWK;
}

/** RFC 7638 computed here, independently of jose: SHA-256 over the required members in lexicographic order. */
function rfc7638Thumbprint(jwk: JWK): string {
  const required = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

async function refusal(json: string, alg: SigningAlgorithm = 'ES256'): Promise<SigningKeyError> {
  try {
    await loadSigningKeys(alg, json);
  } catch (err) {
    if (err instanceof SigningKeyError) return err;
    throw err;
  }
  throw new Error('expected the key set to be refused');
}

/** Signs with the loaded private key and verifies against the published set. */
async function signsAndVerifies(keys: SigningKeys): Promise<void> {
  const jws = await new CompactSign(new TextEncoder().encode('payload'))
    .setProtectedHeader({ alg: keys.alg, kid: keys.kid })
    .sign(keys.privateKey);
  const { payload } = await compactVerify(jws, createLocalJWKSet({ keys: [...keys.jwks.keys] }));
  expect(new TextDecoder().decode(payload)).toBe('payload');
}

let ecA: JWK;
let ecB: JWK;
let rsa: JWK;

beforeAll(async () => {
  [ecA, ecB, rsa] = await Promise.all([privateJwk('ES256'), privateJwk('ES256'), privateJwk('RS256')]);
});

describe('loadSigningKeys: a private JWK or JWK Set', () => {
  it.each(['ES256', 'ES384', 'ES512', 'RS256', 'RS512', 'PS256', 'PS384'] as const)('loads a generated %s set that signs and verifies', async (alg) => {
    const set = await generatePrivateJwks(alg);
    const keys = await loadSigningKeys(alg, JSON.stringify(set));
    expect(keys).toMatchObject({ alg, kid: set.keys[0]!.kid, ephemeral: false });
    expect(keys.jwks.keys).toHaveLength(1);
    expect(keys.jwks.keys[0]).toMatchObject({ kid: set.keys[0]!.kid, alg, use: 'sig' });
    await signsAndVerifies(keys);
  });

  it('loads a single private JWK that is not wrapped in a set', async () => {
    const keys = await loadSigningKeys('ES256', JSON.stringify(ecA));
    expect(keys.kid).toBe(ecA.kid);
    await signsAndVerifies(keys);
  });

  it('signs with the first key compatible with signing.alg', async () => {
    const keys = await loadSigningKeys('ES256', JSON.stringify({ keys: [rsa, ecA, ecB] }));
    expect(keys.kid).toBe(ecA.kid);
    await signsAndVerifies(keys);
  });

  it('picks the RSA key of a mixed set when signing.alg is RS256', async () => {
    const keys = await loadSigningKeys('RS256', JSON.stringify({ keys: [ecA, rsa] }));
    expect(keys.kid).toBe(rsa.kid);
    await signsAndVerifies(keys);
  });

  it('skips a key whose own alg differs from signing.alg', async () => {
    const unlabelled = withoutMembers(await privateJwk('RS256'), 'alg');
    const keys = await loadSigningKeys('PS256', JSON.stringify({ keys: [rsa, unlabelled] }));
    expect(keys.kid).toBe(unlabelled.kid);
    expect(keys.jwks.keys.map((k) => [k.kid, k.alg])).toEqual([[rsa.kid, 'RS256'], [unlabelled.kid, 'PS256']]);
    await signsAndVerifies(keys);
  });

  it('publishes every key of the set, current and retiring', async () => {
    const keys = await loadSigningKeys('ES256', JSON.stringify({ keys: [ecA, ecB, rsa] }));
    expect(keys.jwks.keys.map((k) => k.kid)).toEqual([ecA.kid, ecB.kid, rsa.kid]);
    expect(keys.jwks.keys.map((k) => k.alg)).toEqual(['ES256', 'ES256', 'RS256']);
    expect(keys.jwks.keys.every((k) => k.use === 'sig')).toBe(true);
  });

  it('publishes no private members, key_ops or ext', async () => {
    const rsaWithExtras = { ...rsa, key_ops: ['sign'], ext: true };
    const keys = await loadSigningKeys('ES256', JSON.stringify({ keys: [ecA, rsaWithExtras] }));
    for (const published of keys.jwks.keys) {
      for (const member of [...PRIVATE_MEMBERS, 'key_ops', 'ext']) expect(published).not.toHaveProperty(member);
    }
    expect(keys.jwks.keys[1]).toEqual({ kty: 'RSA', n: rsa.n, e: rsa.e, kid: rsa.kid, alg: 'RS256', use: 'sig' });
  });

  it('gives a key without kid its RFC 7638 thumbprint, for signing and publishing', async () => {
    const noKid = withoutMembers(ecA, 'kid');
    const keys = await loadSigningKeys('ES256', JSON.stringify({ keys: [withoutMembers(rsa, 'kid'), noKid] }));
    expect(keys.kid).toBe(rfc7638Thumbprint(ecA));
    expect(keys.jwks.keys.map((k) => k.kid)).toEqual([rfc7638Thumbprint(rsa), rfc7638Thumbprint(ecA)]);
    await signsAndVerifies(keys);
  });

  it('freezes the loaded keys', async () => {
    const keys = await loadSigningKeys('ES256', JSON.stringify(ecA));
    expect(Object.isFrozen(keys)).toBe(true);
    expect(Object.isFrozen(keys.jwks)).toBe(true);
  });
});

describe('loadSigningKeys: refusals with clear errors', () => {
  it('refuses a public key: the broker needs the private key', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const err = await refusal(JSON.stringify({ keys: [ecA, await exportJWK(publicKey)] }));
    expect(err.message).toBe('signing keys: keys[1] is a public key; the broker needs the private key');
  });

  it('refuses a symmetric (oct) key', async () => {
    const err = await refusal(JSON.stringify({ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0', alg: 'HS256' }));
    expect(err.message).toMatch(/keys\[0\] has kty oct; only RSA and EC keys/);
  });

  it('refuses an EdDSA (OKP) key, which Kubernetes does not accept', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const err = await refusal(JSON.stringify({ keys: [ecA, await exportJWK(privateKey)] }));
    expect(err.message).toMatch(/keys\[1\] has kty OKP; only RSA and EC keys/);
  });

  it('refuses an RSA key under 2048 bits', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
    const err = await refusal(JSON.stringify(small), 'RS256');
    expect(err.message).toBe('signing keys: keys[0] is an RSA key under 2048 bits');
  });

  it('accepts an RSA key of exactly 2048 bits', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    await signsAndVerifies(await loadSigningKeys('RS256', JSON.stringify(key)));
  });

  it('refuses a key meant for encryption', async () => {
    const err = await refusal(JSON.stringify({ ...ecA, use: 'enc' }));
    expect(err.message).toMatch(/keys\[0\] has use "enc", not "sig"/);
  });

  it('refuses two keys with the same kid', async () => {
    const err = await refusal(JSON.stringify({ keys: [ecA, { ...ecB, kid: ecA.kid }] }));
    expect(err.message).toBe(`signing keys: duplicate kid "${ecA.kid}"`);
  });

  it('refuses a set without a key for signing.alg', async () => {
    expect((await refusal(JSON.stringify({ keys: [ecA, rsa] }), 'ES384')).message).toBe('signing keys: no key can sign with ES384');
    expect((await refusal(JSON.stringify({ keys: [rsa] }), 'PS256')).message).toBe('signing keys: no key can sign with PS256');
  });

  it('refuses text that is not JSON, an empty set, and an entry that is not an object', async () => {
    expect((await refusal('-----BEGIN PRIVATE KEY-----')).message).toMatch(/not valid JSON/);
    expect((await refusal('{"keys":[]}')).message).toMatch(/the JWK Set is empty/);
    expect((await refusal(JSON.stringify({ keys: [ecA, 'key'] }))).message).toMatch(/keys\[1\] is not a JWK object/);
  });

  it('never puts key material in an error message', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
    const messages = [
      (await refusal(JSON.stringify(small), 'RS256')).message,
      (await refusal(JSON.stringify({ ...ecA, use: 'enc' }))).message,
      (await refusal(JSON.stringify({ keys: [rsa] }), 'ES256')).message,
    ];
    for (const message of messages) {
      for (const secret of [small.d, ecA.d, rsa.d, rsa.p]) expect(message).not.toContain(secret);
    }
  });
});

describe('generateSigningKeys: an ephemeral development key', () => {
  it('generates a non-extractable key, marked ephemeral, published under its thumbprint', async () => {
    const keys = await generateSigningKeys('ES256');
    expect(keys.ephemeral).toBe(true);
    expect(keys.privateKey.extractable).toBe(false);
    expect(keys.jwks.keys).toHaveLength(1);
    const [published] = keys.jwks.keys;
    expect(published).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: keys.kid });
    expect(keys.kid).toBe(rfc7638Thumbprint(published!));
    expect(published).not.toHaveProperty('d');
    await signsAndVerifies(keys);
  });
});

describe('generatePrivateJwks: a private set for `argo-sts keys generate`', () => {
  it('carries kid (the RFC 7638 thumbprint), alg, use and the private member', async () => {
    const { keys } = await generatePrivateJwks('ES384');
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-384', alg: 'ES384', use: 'sig', kid: rfc7638Thumbprint(keys[0]!) });
    expect(typeof keys[0]!.d).toBe('string');
  });
});
