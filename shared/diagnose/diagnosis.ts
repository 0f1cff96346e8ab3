/**
 * The shape of a diagnosis: what POST /diagnose answers, what the CLI and the page render, and the
 * annotated findings the diagnose modules pass between them.
 */
import { type Cause, type HintFacts } from './catalogue.ts';
import type { JWK } from 'jose';
import type { Config } from '../config/schema.ts';
import type { CheckId } from '../errors.ts';
import type { Mismatch } from '../policy/evaluate-policy.ts';
import type { Broker } from '../broker/broker.ts';
import type { Finding } from '../checks.ts';
import type { CryptoPort } from '../keys/crypto-port.ts';
import type { IssuerKeys } from '../verify/issuer-keys.ts';

export type RevealMode = Config['diagnose']['reveal'];

export interface PolicyTraceEntry {
  readonly policy: string;
  readonly matches_identity: boolean;
  readonly mismatches: readonly Mismatch[];
}

export interface DiagnosisCheck {
  readonly check: CheckId;
  readonly status: Finding['status'];
  readonly message: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly hint?: string;
  /** The catalogue cause, e.g. `issuer.trailing-slash` (a docs/troubleshooting.md anchor). */
  readonly cause?: string;
  readonly seconds?: number;
  readonly leeway_seconds?: number;
  readonly policy?: string;
  readonly mismatches?: readonly Mismatch[];
  /** Policy check: every policy, identity-matching first, then by fewest failing clauses. */
  readonly trace?: readonly PolicyTraceEntry[];
}

export interface RequestProblem {
  readonly parameter: string;
  readonly message: string;
}

/** What the presented token says, unverified: always shown. */
export interface TokenFacts {
  readonly alg?: string | undefined;
  readonly kid?: string | undefined;
  readonly typ?: string | undefined;
  readonly iss?: unknown;
  readonly sub?: unknown;
  readonly aud?: unknown;
  readonly iat?: unknown;
  readonly nbf?: unknown;
  readonly exp?: unknown;
}

export interface Diagnosis {
  readonly verdict: 'issue' | 'deny';
  readonly request_id: string;
  readonly server_time: string;
  /** `full` when expected values, hints and the policy trace are shown; else `summarized`. */
  readonly disclosure: 'full' | 'summarized';
  /** The configured `diagnose.reveal` mode that decided `disclosure`. */
  readonly reveal: RevealMode;
  readonly token?: TokenFacts;
  /** Parameters /token would refuse that no check covers (grant_type, requested_ttl, ...). */
  readonly request_problems?: readonly RequestProblem[];
  readonly checks: readonly DiagnosisCheck[];
}

export interface DiagnoseDeps {
  readonly config: Config;
  readonly issuerKeys: IssuerKeys;
  /** Verifies signatures: the broker's port, or WebCrypto for the CLI's own diagnoses. */
  readonly crypto: CryptoPort;
  /** The broker's rate limits: a verified identity over them gets 429, like /token. */
  readonly rateLimits?: Broker['rateLimits'];
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** The broker's published keys: a credential it minted is recognised and explained. */
  readonly ownKeys?: { readonly keys: readonly JWK[] } | undefined;
}

/** A finding with what /diagnose adds: the catalogue cause and the facts its hint names. */
export type Annotated = Finding & {
  readonly cause?: Cause;
  readonly facts?: HintFacts;
  readonly trace?: readonly PolicyTraceEntry[];
};

export interface AuditFacts {
  idp?: string;
  iss?: string;
  sub?: string;
  policy?: string;
  target?: string;
  namespace?: string;
  scopes?: readonly string[];
  context?: Record<string, string>;
}


export const CLAIM_CHECKS: ReadonlySet<CheckId> = new Set(['audience', 'expiry', 'not_before', 'issued_at']);
export const REQUEST_CHECKS: readonly CheckId[] = ['policy', 'target', 'namespace', 'scope'];
