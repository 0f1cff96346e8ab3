/**
 * The target issuer port: after policy has granted a request, the target's kind decides who
 * makes the credential — the broker itself (`kubernetes-oidc`), the cluster's TokenRequest API
 * (`kubernetes-tokenrequest`) or Entra ID (`entra-obo`, `entra-client-credentials`).
 *
 * Issuers return the credential; they never audit or answer the client. The exchange writes the
 * durable audit record first and only then returns what an issuer made.
 */
import type { PolicyConfig, TargetConfig } from '../config/schema.ts';
import { StsError } from '../errors.ts';

/** What every issuer is told about a granted request. */
export interface CredentialRequest {
  readonly target: TargetConfig;
  readonly policy: PolicyConfig;
  readonly namespace: string;
  readonly scopes: readonly string[];
  /** Granted lifetime in seconds (requested, capped by policy and defaults). */
  readonly ttl: number;
  /** Seconds since the epoch. */
  readonly now: number;
  /** The exchange's id for this issuance. */
  readonly jti: string;
  /** `<idp>:<sub>` of the verified subject token. */
  readonly subject: string;
  /** The verified subject token itself: the assertion of an on-behalf-of exchange. */
  readonly subjectToken: string;
  readonly groups: readonly string[];
  readonly preferredUsername?: string | undefined;
  readonly email?: string | undefined;
  readonly act?: { readonly sub: string } | undefined;
}

export interface IssuedCredential {
  readonly token: string;
  /** Seconds the credential is valid from `now`, as its issuer reports it. */
  readonly expiresIn: number;
  /** The credential's own `jti` when it has one (ServiceAccount tokens do); else the exchange's is audited. */
  readonly jti?: string | undefined;
}

export interface TargetIssuer {
  issue(request: CredentialRequest): Promise<IssuedCredential>;
}

export type TargetIssuers = { readonly [K in TargetConfig['kind']]?: TargetIssuer };

/** Dispatches to the issuer of the target's kind; a kind this deployment cannot serve answers 503. */
export function issueCredential(issuers: TargetIssuers, request: CredentialRequest): Promise<IssuedCredential> {
  const issuer = issuers[request.target.kind];
  if (!issuer) {
    throw new StsError('ERR_UPSTREAM_UNAVAILABLE', `target kind ${request.target.kind} is not available in this deployment`);
  }
  return issuer.issue(request);
}

/** A refusal that means the broker is misconfigured: logged for the operator, 503 for the client. */
export function misconfigured(warn: (message: string) => void, target: TargetConfig, operatorMessage: string, cause?: unknown): StsError {
  warn(`argo-sts: target "${target.name}" (${target.kind}) is misconfigured: ${operatorMessage}`);
  return new StsError('ERR_UPSTREAM_UNAVAILABLE', `target ${target.name} is not usable right now (broker misconfiguration; the operator has been told)`, { cause });
}
