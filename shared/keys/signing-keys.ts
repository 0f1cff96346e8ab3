/**
 * The broker's signing keys: loaded once at start-up from a private JWK or JWK Set (or generated
 * for development), imported once, never per request. The first key compatible with
 * `signing.alg` is current and signs; every key in the set is published, so tokens signed by a
 * retiring key keep verifying until they expire.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { StartupError } from '../errors.ts';
import type { SigningAlgorithm } from '../config/schema.ts';

export interface SigningKeys {
  readonly alg: SigningAlgorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** Public keys, current first, as served at /.well-known/jwks.json. */
  readonly jwks: { readonly keys: readonly JWK[] };
  /** True for `generate`: keys vanish with the process. */
  readonly ephemeral: boolean;
  /**
   * Rotating key sets (signing-key-ring.ts): starts a background refresh when one is due and
   * returns its promise (for `waitUntil` on Workers), else undefined. Static sets lack it.
   */
  maintain?(nowMs: number): Promise<void> | undefined;
  /** Rotating key sets: the state /readyz reports. */
  health?(): SigningKeyHealth;
}

export interface SigningKeyHealth {
  /** `degraded`: the last refresh failed and the last good keys are still in use. */
  readonly status: 'ok' | 'degraded';
  readonly last_refresh?: string | undefined;
  readonly last_error?: string | undefined;
  readonly published: number;
}

export class SigningKeyError extends StartupError {
  override name = 'SigningKeyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SIGNING_KEYS', message, options);
  }
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const EC_CURVES: Partial<Record<SigningAlgorithm, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** Whether a key of this type can sign with the algorithm (ignoring the key's own `alg`). */
function keyFits(jwk: JWK, alg: SigningAlgorithm): boolean {
  if (alg.startsWith('ES')) return jwk.kty === 'EC' && jwk.crv === EC_CURVES[alg];
  return jwk.kty === 'RSA';
}

function inferAlg(jwk: JWK): string | undefined {
  if (jwk.alg) return jwk.alg;
  if (jwk.kty === 'EC') return Object.entries(EC_CURVES).find(([, crv]) => crv === jwk.crv)?.[0];
  return undefined;
}

/** A parsed private key set: every key's public form, and the key that signs with `alg`, if any. */
export interface ParsedKeySet {
  readonly published: readonly JWK[];
  readonly current?: { readonly jwk: JWK; readonly kid: string } | undefined;
}

/** Parses and checks the JSON text of a private JWK or JWK Set without importing anything. */
export async function parseKeySet(alg: SigningAlgorithm, json: string): Promise<ParsedKeySet> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new SigningKeyError('signing keys: not valid JSON (expected a private JWK or JWK Set)');
  }
  const list = doc && typeof doc === 'object' && Array.isArray((doc as { keys?: unknown }).keys)
    ? ((doc as { keys: unknown[] }).keys)
    : [doc];
  if (list.length === 0) throw new SigningKeyError('signing keys: the JWK Set is empty');

  const published: JWK[] = [];
  let current: { jwk: JWK; kid: string } | undefined;
  for (const [i, entry] of list.entries()) {
    if (!entry || typeof entry !== 'object') throw new SigningKeyError(`signing keys: keys[${i}] is not a JWK object`);
    const jwk = entry as JWK;
    if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') {
      throw new SigningKeyError(`signing keys: keys[${i}] has kty ${String(jwk.kty)}; only RSA and EC keys can sign tokens Kubernetes accepts`);
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new SigningKeyError(`signing keys: keys[${i}] has use "${jwk.use}", not "sig"`);
    if (typeof jwk.d !== 'string') throw new SigningKeyError(`signing keys: keys[${i}] is a public key; the broker needs the private key`);
    if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && jwk.n.length < 342) {
      throw new SigningKeyError(`signing keys: keys[${i}] is an RSA key under 2048 bits`);
    }
    const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk, 'sha256'));
    if (published.some((k) => k.kid === kid)) throw new SigningKeyError(`signing keys: duplicate kid "${kid}"`);
    const fits = keyFits(jwk, alg) && (jwk.alg === undefined || jwk.alg === alg);
    if (fits && !current) current = { jwk, kid };
    published.push(toPublic(jwk, kid, fits ? alg : inferAlg(jwk)));
  }
  return { published, current };
}

/** Imports the key of a parsed set that signs with `alg`. */
export async function importSigningKey(alg: SigningAlgorithm, current: { readonly jwk: JWK; readonly kid: string }): Promise<CryptoKey> {
  try {
    // Extractable: the node:crypto port converts it to a KeyObject once, which Node 24.21 deprecates
    // for non-extractable keys (DEP0204). The key material is the JWK this process already holds.
    return (await importJWK({ ...current.jwk, alg }, alg, { extractable: true })) as CryptoKey;
  } catch (err) {
    throw new SigningKeyError(`signing keys: the ${alg} key "${current.kid}" cannot be imported: ${(err as Error).message}`);
  }
}

/** Parses the JSON text of a private JWK or JWK Set. */
export async function loadSigningKeys(alg: SigningAlgorithm, json: string): Promise<SigningKeys> {
  const { published, current } = await parseKeySet(alg, json);
  if (!current) throw new SigningKeyError(`signing keys: no key can sign with ${alg}`);
  const privateKey = await importSigningKey(alg, current);
  return Object.freeze({ alg, kid: current.kid, privateKey, jwks: Object.freeze({ keys: published }), ephemeral: false });
}

/** A fresh key pair that lives as long as the process: for development only. */
export async function generateSigningKeys(alg: SigningAlgorithm): Promise<SigningKeys> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: false, modulusLength: 2048 });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return Object.freeze({ alg, kid, privateKey, jwks: Object.freeze({ keys: [toPublic(jwk, kid, alg)] }), ephemeral: true });
}

/** A private JWK Set for `argo-sts keys generate` and tests. */
export async function generatePrivateJwks(alg: SigningAlgorithm): Promise<{ keys: JWK[] }> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { keys: [{ ...jwk, kid, alg, use: 'sig' }] };
}

function toPublic(jwk: JWK, kid: string, alg: string | undefined): JWK {
  const pub: Record<string, unknown> = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete pub[member];
  delete pub.key_ops;
  delete pub.ext;
  return { ...(pub as JWK), kid, use: 'sig', ...(alg ? { alg } : {}) };
}
