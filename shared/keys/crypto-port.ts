/**
 * The cryptography on an exchange's hot path — check the subject token's signature, sign the
 * minted token, hash the subject token for the audit trail — behind one small port. Everything
 * else about JWS stays with jose: header parsing, key selection from a JWK Set (kid, kty, alg,
 * use, key_ops), key import and its cache, and the error classes callers already handle.
 *
 * The default answers through WebCrypto, which is native on Workers. On Node,
 * functions/node/crypto-port.ts answers through node:crypto's synchronous calls: there
 * each WebCrypto call is a job with its own promise and hand-off, and under concurrent load on
 * one core those jobs cost more than the signature itself (docs/performance.md has the figures).
 *
 * Keys are the CryptoKeys jose imports (once per key, cached), so both adapters see the same keys.
 */
import { base64url, errors as joseErrors } from 'jose';

export interface CryptoPort {
  /** True when `signature` is valid for `data` under `key` with the JWS algorithm `alg`; false otherwise, never a throw for a bad signature. */
  verify(alg: string, key: CryptoKey, data: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer>): Promise<boolean>;
  /** The JWS signature of `data` (for ECDSA the IEEE P1363 form r ‖ s, as JWS requires). */
  sign(alg: string, key: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
  /** Lower-case hex SHA-256 of the UTF-8 text. */
  sha256Hex(text: string): Promise<string>;
  /** base64url without padding (RFC 4648 §5, RFC 7515 §2) of the bytes. */
  encodeBase64url(bytes: Uint8Array): string;
  /**
   * The bytes of base64url text. Callers pass only text already checked to be in the base64url
   * alphabet (see isBase64url); what a lenient decoder would do with anything else is not relied on.
   */
  decodeBase64url(text: string): Uint8Array<ArrayBuffer>;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextEncoder();

/** True for unpadded base64url text of a length some byte string encodes to. */
export function isBase64url(text: string): boolean {
  return text.length % 4 !== 1 && BASE64URL.test(text);
}

/** The WebCrypto parameters of each JWS algorithm the broker signs or verifies with (RFC 7518 §3). */
function webCryptoAlgorithm(alg: string): AlgorithmIdentifier | RsaPssParams | EcdsaParams {
  const bits = alg.slice(-3);
  if (alg.startsWith('RS')) return { name: 'RSASSA-PKCS1-v1_5' };
  if (alg.startsWith('PS')) return { name: 'RSA-PSS', saltLength: Number(bits) / 8 } as RsaPssParams;
  if (alg.startsWith('ES')) return { name: 'ECDSA', hash: `SHA-${bits}` } as EcdsaParams;
  if (alg === 'EdDSA' || alg === 'Ed25519') return { name: 'Ed25519' };
  throw new joseErrors.JOSENotSupported(`unsupported JWS algorithm ${alg}`);
}

/** Lower-case hex SHA-256 of the UTF-8 text, through WebCrypto. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export const webCryptoPort: CryptoPort = {
  async verify(alg, key, data, signature) {
    try {
      return await crypto.subtle.verify(webCryptoAlgorithm(alg), key, signature, data);
    } catch (err) {
      // WebCrypto's own refusals (a key that cannot verify with this algorithm) mean "no";
      // anything else (a TypeError: wrong arguments) is a defect for the error boundary.
      if (err instanceof DOMException) return false;
      throw err;
    }
  },
  async sign(alg, key, data) {
    return new Uint8Array(await crypto.subtle.sign(webCryptoAlgorithm(alg), key, data));
  },
  sha256Hex,
  encodeBase64url: (bytes) => base64url.encode(bytes),
  decodeBase64url: (text) => base64url.decode(text) as Uint8Array<ArrayBuffer>,
};

/** RFC 7518 §3.3 and §3.5: RSA keys under 2048 bits are refused, as jose refuses them. */
const MIN_RSA_BITS = 2048;

type KeyResolver = (header: { alg?: string; kid?: string }) => Promise<CryptoKey | Uint8Array>;

/**
 * Verifies a compact JWS whose header is already parsed and checked (three base64url segments,
 * `alg` allowed for the issuer, no `crit`), with a jose JWK Set resolver picking the key. Throws
 * what jose's compactVerify throws: the resolver's JWKSNoMatchingKey (and friends) as they are,
 * JWSSignatureVerificationFailed for a signature that does not verify.
 */
export async function verifyCompactJws(raw: string, header: { alg?: string; kid?: string }, resolveKey: KeyResolver, port: CryptoPort): Promise<void> {
  const alg = header.alg;
  if (typeof alg !== 'string') throw new joseErrors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  const dot = raw.lastIndexOf('.');
  const encodedSignature = raw.slice(dot + 1);
  if (!isBase64url(encodedSignature)) throw new joseErrors.JWSSignatureVerificationFailed();
  const signature = port.decodeBase64url(encodedSignature);
  const signingInput = utf8.encode(raw.slice(0, dot));
  let candidates: AsyncIterable<CryptoKey | Uint8Array> | Iterable<CryptoKey | Uint8Array>;
  try {
    candidates = [await resolveKey(header)];
  } catch (err) {
    // Several keys fit a token without a kid (or with a shared kid): the signature decides which.
    if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) throw err;
    candidates = err as unknown as AsyncIterable<CryptoKey>;
  }
  for await (const key of candidates) {
    if (key instanceof Uint8Array) throw new joseErrors.JOSENotSupported('symmetric keys cannot verify subject tokens');
    if (/^(RS|PS)/.test(alg) && ((key.algorithm as RsaHashedKeyAlgorithm).modulusLength ?? 0) < MIN_RSA_BITS) continue;
    if (await port.verify(alg, key, signingInput, signature)) return;
  }
  throw new joseErrors.JWSSignatureVerificationFailed();
}

/** A protected header, encoded once: the minted tokens of one key all carry the same. */
export interface EncodedHeader {
  readonly alg: string;
  /** The header's base64url segment. */
  readonly segment: string;
}

export function encodeHeader(header: { readonly alg: string } & Record<string, unknown>): EncodedHeader {
  return { alg: header.alg, segment: base64url.encode(JSON.stringify(header)) };
}

/** A compact JWS over `payload` with the encoded protected header, signed through the port. */
export async function signCompactJws(header: EncodedHeader, payload: Uint8Array, key: CryptoKey, port: CryptoPort): Promise<string> {
  const signingInput = `${header.segment}.${port.encodeBase64url(payload)}`;
  const signature = await port.sign(header.alg, key, utf8.encode(signingInput));
  return `${signingInput}.${port.encodeBase64url(signature)}`;
}
