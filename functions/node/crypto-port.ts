/**
 * The crypto port on Node: node:crypto's synchronous one-shot calls on the same keys jose
 * imported (KeyObject.from a CryptoKey shares the key material; converted once per key and kept
 * while the key lives). No job, no thread hand-off: under concurrent load on one core this does
 * the exchange's verify + sign + hash in well under half the time WebCrypto takes
 * (docs/performance.md). Workers keep shared/keys/crypto-port.ts's WebCrypto adapter.
 */
import { constants, createHash, KeyObject, sign, verify, type SignKeyObjectInput, type VerifyKeyObjectInput } from 'node:crypto';
import { errors as joseErrors } from 'jose';
import { type CryptoPort, webCryptoPort } from '../../shared/keys/crypto-port.ts';
import { derToP1363, ECDSA_PART_BYTES, p1363ToDer } from './ecdsa-signature.ts';

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

function keyObject(key: CryptoKey): KeyObject {
  let object = keyObjects.get(key);
  if (!object) keyObjects.set(key, (object = KeyObject.from(key)));
  return object;
}

/**
 * node:crypto's digest and key for a JWS algorithm (RFC 7518 §3). RSA PKCS#1 v1.5, ECDSA and
 * EdDSA take the bare KeyObject, ECDSA with its signature in DER (`ecdsaPartBytes`: converted to
 * and from JWS's r ‖ s by the caller): an options object costs Node 24 more than the signature
 * (ecdsa-signature.ts). RSA-PSS needs its padding options.
 */
function parameters(alg: string, key: CryptoKey): {
  digest: string | null;
  key: KeyObject | (SignKeyObjectInput & VerifyKeyObjectInput);
  ecdsaPartBytes?: number;
} {
  const object = keyObject(key);
  if (alg === 'EdDSA' || alg === 'Ed25519') return { digest: null, key: object };
  const digest = `sha${alg.slice(-3)}`;
  const ecdsaPartBytes = ECDSA_PART_BYTES[alg];
  if (ecdsaPartBytes !== undefined) return { digest, key: object, ecdsaPartBytes };
  if (alg.startsWith('RS')) return { digest, key: object };
  if (alg.startsWith('PS')) return { digest, key: { key: object, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } };
  throw new joseErrors.JOSENotSupported(`unsupported JWS algorithm ${alg}`);
}

/** node:crypto's and OpenSSL's errors about keys and algorithms, as opposed to programming errors. */
function isCryptoError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('ERR_OSSL') || code.startsWith('ERR_CRYPTO'));
}

export const nodeCryptoPort: CryptoPort = {
  async verify(alg, key, data, signature) {
    try {
      const p = parameters(alg, key);
      if (p.ecdsaPartBytes === undefined) return verify(p.digest, data, p.key, signature);
      const der = p1363ToDer(signature, p.ecdsaPartBytes);
      return der !== undefined && verify(p.digest, data, p.key, der);
    } catch (err) {
      // OpenSSL's refusals (a key that cannot verify with this algorithm) mean "no"; anything
      // else (a TypeError: wrong arguments) is a defect for the error boundary.
      if (isCryptoError(err)) return false;
      throw err;
    }
  },
  async sign(alg, key, data) {
    // A non-extractable private key (the ephemeral `keys: generate` one) cannot become a KeyObject
    // without Node's DEP0204 deprecation: WebCrypto signs with it instead (development only).
    if (key.type === 'private' && !key.extractable) return webCryptoPort.sign(alg, key, data);
    const p = parameters(alg, key);
    const signature = sign(p.digest, data, p.key);
    if (p.ecdsaPartBytes === undefined) return signature;
    const p1363 = derToP1363(signature, p.ecdsaPartBytes);
    if (!p1363) throw new Error(`node:crypto returned a ${alg} signature that is not DER`);
    return p1363;
  },
  async sha256Hex(text) {
    return createHash('sha256').update(text).digest('hex');
  },
  encodeBase64url(bytes) {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
  },
  decodeBase64url(text) {
    const bytes = Buffer.from(text, 'base64url');
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Uint8Array<ArrayBuffer>;
  },
};
