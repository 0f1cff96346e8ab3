/**
 * Minting the broker's own JWT for `kubernetes-oidc` targets.
 *
 * The payload is serialized so that its base64url encoding contains neither `-` nor `_`:
 * Argo Server decodes the claims with Go's base64.RawStdEncoding (the standard alphabet), and a
 * payload that uses the URL-safe characters loses its creator labels there. In ASCII JSON those
 * characters come only from `>`, `?`, `~`, DEL and non-ASCII bytes, so each is written as a
 * `\uXXXX` escape — the same JSON value, decoded identically under both alphabets.
 */
import { type CryptoPort, type EncodedHeader, encodeHeader, signCompactJws, webCryptoPort } from '../keys/crypto-port.ts';
import type { SigningKeys } from '../keys/signing-keys.ts';
import type { ActorClaim } from '../policy/delegation-chain.ts';

export interface MintInput {
  readonly issuer: string;
  readonly audience: string;
  readonly subject: string;
  /** Seconds since the epoch. */
  readonly now: number;
  readonly ttl: number;
  readonly jti: string;
  readonly namespace: string;
  readonly scopes: readonly string[];
  readonly groups: readonly string[];
  readonly preferredUsername?: string | undefined;
  /** Only an email the subject token's IdP verified; minted with `email_verified: true`. */
  readonly email?: string | undefined;
  readonly act?: ActorClaim | undefined;
}

export interface MintedToken {
  readonly token: string;
  readonly claims: Record<string, unknown>;
  readonly expiresAt: number;
}

const headers = new WeakMap<SigningKeys, { readonly kid: string; readonly header: EncodedHeader }>();

/** The protected header of the tokens minted with these keys, encoded once per signing key (a key ring's kid moves on rotation). */
function headerOf(keys: SigningKeys): EncodedHeader {
  const cached = headers.get(keys);
  if (cached?.kid === keys.kid) return cached.header;
  const header = encodeHeader({ alg: keys.alg, kid: keys.kid, typ: 'JWT' });
  headers.set(keys, { kid: keys.kid, header });
  return header;
}

const utf8 = new TextEncoder();

/** `cryptoPort` signs: node:crypto on Node, WebCrypto (the default) on Workers. */
export async function mintToken(keys: SigningKeys, input: MintInput, cryptoPort: CryptoPort = webCryptoPort): Promise<MintedToken> {
  const claims: Record<string, unknown> = {
    iss: input.issuer,
    sub: input.subject,
    aud: input.audience,
    iat: input.now,
    nbf: input.now,
    exp: input.now + input.ttl,
    jti: input.jti,
    groups: input.groups,
    scope: input.scopes.join(' '),
    namespace: input.namespace,
  };
  if (input.preferredUsername !== undefined) claims.preferred_username = input.preferredUsername;
  // Only a verified email is ever given to mint; saying so keeps Argo from showing it unverified.
  if (input.email !== undefined) Object.assign(claims, { email: input.email, email_verified: true });
  if (input.act !== undefined) claims.act = input.act;
  const payload = utf8.encode(serializeClaims(claims));
  const token = await signCompactJws(headerOf(keys), payload, keys.privateKey, cryptoPort);
  return { token, claims, expiresAt: input.now + input.ttl };
}

/** Argo Server's label values hold at most 63 characters (it keeps the last 63 of longer ones). */
const ARGO_LABEL_MAX = 63;
const PIPELINE_CLAIM: Record<string, string> = { 'github-actions': 'repository', gitlab: 'project_path' };

/**
 * The `preferred_username` minted for a pipeline whose token has none: `<idp>/<repository>`
 * (GitHub Actions) or `<idp>/<project_path>` (GitLab), so that Argo's
 * `workflows.argoproj.io/creator-preferred-username` label names the pipeline where the
 * `creator` label (the tail of `sub`) has lost its owner. Longer than a label: its head and a
 * short hash of the whole, so it still fits and stays distinct.
 */
export function pipelineUsername(idp: { readonly name: string; readonly preset: string }, claims: Record<string, unknown>): string | undefined {
  const claim = PIPELINE_CLAIM[idp.preset];
  const value = claim === undefined ? undefined : claims[claim];
  if (typeof value !== 'string' || value === '') return undefined;
  const name = `${idp.name}/${value}`;
  if (name.length <= ARGO_LABEL_MAX) return name;
  let hash = 0x811c9dc5; // FNV-1a: a label hint, not a security boundary
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return `${name.slice(0, ARGO_LABEL_MAX - 9)}-${hash.toString(16).padStart(8, '0')}`;
}

/** JSON whose base64 encoding is the same in the standard and URL-safe alphabets. */
export function serializeClaims(claims: Record<string, unknown>): string {
  return JSON.stringify(claims).replace(/[>?~\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
