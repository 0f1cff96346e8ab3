/** The shape of a cluster diagnosis: its checks, the user the apiserver would see, and small builders of checks. */
import { type FetchLike } from '../http/fetch-capped.ts';
import type { AuthenticationConfig, ConfigProblem } from './kube-authn-model.ts';
import { type ClusterCheckId, clusterHint } from './cluster-catalogue.ts';

/** The extra key under which the apiserver records a JWT's `jti` (as `JTI=<jti>`). */
export const CREDENTIAL_ID_KEY = 'authentication.kubernetes.io/credential-id';

export const AUTHENTICATED_GROUP = 'system:authenticated';

/** go-oidc's fixed leeway on nbf; exp has none. */
export const KUBE_NBF_LEEWAY_SECONDS = 60;

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface RuleOutcome {
  readonly rule: string;
  readonly status: 'pass' | 'fail' | 'error' | 'unsupported';
  readonly message?: string;
}

export interface ClusterCheck {
  readonly check: ClusterCheckId;
  readonly status: CheckStatus;
  readonly message: string;
  readonly hint?: string;
  /** The catalogue cause the hint comes from. */
  readonly cause?: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly seconds?: number;
  readonly leeway_seconds?: number;
  readonly rules?: readonly RuleOutcome[];
  readonly problems?: readonly ConfigProblem[];
}

export interface KubeUser {
  readonly username: string;
  readonly groups: readonly string[];
  readonly uid: string;
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

export interface ClusterDiagnosis {
  readonly verdict: 'authenticated' | 'refused';
  /** The issuer URL of the authenticator that claimed the token, or null. */
  readonly authenticator: string | null;
  /** The user the apiserver would see (groups end with system:authenticated); null unless authenticated. */
  readonly user: KubeUser | null;
  readonly checks: readonly ClusterCheck[];
  readonly server_time: string;
  readonly config: { readonly source: AuthenticationConfig['source']; readonly authenticators: number; readonly problems: readonly ConfigProblem[] };
  /** When not authenticated but the claims still map: the user the mappings give (for reading, not granted). */
  readonly mapped_user?: KubeUser;
}

export interface ClusterDiagnosisInput {
  readonly token: string;
  readonly config: AuthenticationConfig;
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** A fetch trusting the authenticator's `certificateAuthority` (PEM), or the default roots when undefined. */
  readonly fetchFor: (certificateAuthority: string | undefined) => FetchLike;
}

export const ORDER: readonly ClusterCheckId[] = ['issuer', 'discovery', 'signature', 'audience', 'expiry', 'not_before', 'claim_validation', 'claim_mapping', 'user_validation'];

export type Claims = Record<string, unknown>;

export function decodeSegment(segment: string): unknown {
  const b64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

export function decodeJwt(token: string): { header: Claims; claims: Claims } | undefined {
  if (token.trim().startsWith('{')) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = decodeSegment(parts[0]!);
    const claims = decodeSegment(parts[1]!);
    if (!header || typeof header !== 'object' || Array.isArray(header) || !claims || typeof claims !== 'object' || Array.isArray(claims)) return undefined;
    return { header: header as Claims, claims: claims as Claims };
  } catch {
    return undefined;
  }
}

export const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
export const list = (values: readonly string[]) => values.map((v) => `\`${v}\``).join(', ');

export function skip(check: ClusterCheckId, message: string): ClusterCheck {
  return { check, status: 'skip', message };
}

export function failWith(check: ClusterCheckId, causeId: string, message: string, facts: Parameters<typeof clusterHint>[1] = {}, extra: Partial<ClusterCheck> = {}): ClusterCheck {
  return { check, status: 'fail', message, hint: clusterHint(causeId, facts), cause: causeId, ...extra };
}
