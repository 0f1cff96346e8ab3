/**
 * The crypto port: WebCrypto (Workers, and the default) and node:crypto (Node) must accept and
 * refuse exactly the same signatures, and produce JWSs that jose verifies. Keys are generated per
 * run; tokens are signed by jose itself, so the port is checked against an independent signer.
 */
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { base64url, CompactSign, compactVerify, createLocalJWKSet, decodeProtectedHeader, errors, exportJWK, generateKeyPair, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { nodeCryptoPort } from '../../functions/node/crypto-port.ts';
import { type CryptoPort, encodeHeader, signCompactJws, verifyCompactJws, webCryptoPort } from '../../shared/keys/crypto-port.ts';

const PORTS: [string, CryptoPort][] = [['WebCrypto', webCryptoPort], ['node:crypto', nodeCryptoPort]];
const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const payload = new TextEncoder().encode(JSON.stringify({ iss: 'https://idp.example', sub: 'repo:acme/app:ref:refs/heads/main' }));

async function keyPairFor(alg: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const kid = `k-${alg}`;
  return { privateKey, kid, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }] } };
}

async function joseSigned(alg: string) {
  const pair = await keyPairFor(alg);
  const token = await new CompactSign(payload).setProtectedHeader({ alg, kid: pair.kid, typ: 'JWT' }).sign(pair.privateKey);
  return { ...pair, token, resolver: createLocalJWKSet(pair.jwks) };
}

/** The same token with one bit of its signature flipped. */
function tampered(token: string): string {
  const dot = token.lastIndexOf('.');
  const sig = base64url.decode(token.slice(dot + 1));
  sig[sig.length >> 1]! ^= 0x01;
  return `${token.slice(0, dot)}.${base64url.encode(sig)}`;
}

function verify(token: string, resolver: ReturnType<typeof createLocalJWKSet>, port: CryptoPort) {
  return verifyCompactJws(token, decodeProtectedHeader(token), resolver, port);
}

describe.each(PORTS)('the %s crypto port', (_name, port) => {
  describe.each(ALGS)('%s', (alg) => {
    it('accepts a token jose signed, and refuses it with one signature bit flipped or the signature cut short', async () => {
      const { token, resolver } = await joseSigned(alg);
      await expect(verify(token, resolver, port)).resolves.toBeUndefined();
      await expect(verify(tampered(token), resolver, port)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
      await expect(verify(token.slice(0, -8), resolver, port)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
    });
  });

  it.each(['RS256', 'PS256', 'ES256', 'ES384', 'ES512'])('signs %s JWSs that jose verifies, with the header exactly as given', async (alg) => {
    const { privateKey, kid, jwks } = await keyPairFor(alg);
    const jws = await signCompactJws(encodeHeader({ alg, kid, typ: 'JWT' }), payload, privateKey, port);
    const verified = await compactVerify(jws, createLocalJWKSet(jwks), { algorithms: [alg] });
    expect(verified.protectedHeader).toEqual({ alg, kid, typ: 'JWT' });
    expect(new TextDecoder().decode(verified.payload)).toBe(new TextDecoder().decode(payload));
  });

  it('passes on the key set\'s refusal of an unknown kid as JWKSNoMatchingKey (the kid-storm path)', async () => {
    const { privateKey, jwks } = await keyPairFor('RS256');
    const token = await new CompactSign(payload).setProtectedHeader({ alg: 'RS256', kid: 'rotated-away' }).sign(privateKey);
    await expect(verify(token, createLocalJWKSet(jwks), port)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  });

  it('accepts a token without kid when several keys of the set fit its alg, and refuses one no key signed', async () => {
    const first = await keyPairFor('RS256');
    const second = await keyPairFor('RS256');
    const strip = ({ kid: _kid, ...jwk }: JWK) => jwk;
    const jwks = { keys: [strip(first.jwks.keys[0]!), strip(second.jwks.keys[0]!)] };
    const bySecond = await new CompactSign(payload).setProtectedHeader({ alg: 'RS256' }).sign(second.privateKey);
    await expect(verify(bySecond, createLocalJWKSet(jwks), port)).resolves.toBeUndefined();
    const stranger = await keyPairFor('RS256');
    const byStranger = await new CompactSign(payload).setProtectedHeader({ alg: 'RS256' }).sign(stranger.privateKey);
    await expect(verify(byStranger, createLocalJWKSet(jwks), port)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('refuses an RS256 signature made with a 1024-bit key, as jose does', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwks = { keys: [{ ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'weak', alg: 'RS256' }] };
    const input = `${base64url.encode(JSON.stringify({ alg: 'RS256', kid: 'weak' }))}.${base64url.encode(payload)}`;
    const token = `${input}.${nodeSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    await expect(compactVerify(token, createLocalJWKSet(jwks))).rejects.toThrow();
    await expect(verify(token, createLocalJWKSet(jwks), port)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('encodes and decodes base64url without padding (RFC 4648 §10 vectors, every byte value)', () => {
    const vectors: [string, string][] = [['', ''], ['f', 'Zg'], ['fo', 'Zm8'], ['foo', 'Zm9v'], ['foob', 'Zm9vYg'], ['fooba', 'Zm9vYmE'], ['foobar', 'Zm9vYmFy']];
    for (const [text, encoded] of vectors) {
      expect(port.encodeBase64url(new TextEncoder().encode(text))).toBe(encoded);
      expect(new TextDecoder().decode(port.decodeBase64url(encoded))).toBe(text);
    }
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
    expect(port.encodeBase64url(everyByte)).toBe(base64url.encode(everyByte));
    expect([...port.decodeBase64url(base64url.encode(everyByte))]).toEqual([...everyByte]);
  });

  it('hashes text to lower-case hex SHA-256 (FIPS 180-2 "abc" vector, and UTF-8 input)', async () => {
    expect(await port.sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await port.sha256Hex('ünïcødé ✓')).toBe(await webCryptoPort.sha256Hex('ünïcødé ✓'));
  });
});

it('node:crypto verifies what WebCrypto signs, and the other way round', async () => {
  for (const alg of ['RS256', 'PS384', 'ES256', 'ES512']) {
    const { privateKey, kid, jwks } = await keyPairFor(alg);
    const resolver = createLocalJWKSet(jwks);
    const byWeb = await signCompactJws(encodeHeader({ alg, kid }), payload, privateKey, webCryptoPort);
    const byNode = await signCompactJws(encodeHeader({ alg, kid }), payload, privateKey, nodeCryptoPort);
    await expect(verify(byWeb, resolver, nodeCryptoPort)).resolves.toBeUndefined();
    await expect(verify(byNode, resolver, webCryptoPort)).resolves.toBeUndefined();
  }
});
