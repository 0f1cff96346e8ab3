/**
 * The token exchange (RFC 8693), end to end: request → subject (and actor) verification →
 * policy → mint → durable audit → response. Every decision, issued or denied, is audited; a
 * token is returned only after its audit record is durable.
 */
import { contextClaims, failureFields, startAuditEvent } from './audit.ts';
import type { AuditLog } from './audit-log.ts';
import type { Config } from './config.ts';
import type { CryptoPort } from './crypto-port.ts';
import { StsError } from './errors.ts';
import { evaluatePolicy, grantedTtl } from './evaluate-policy.ts';
import { findingError, firstFailure } from './findings.ts';
import type { IssuerKeys } from './issuer-keys.ts';
import { pipelineUsername } from './mint-token.ts';
import { groupFor } from './scopes.ts';
import type { SigningKeys } from './signing-keys.ts';
import { issueCredential, type TargetIssuers } from './targets/issue-credential.ts';
import type { RateLimiter } from './rate-limit.ts';
import { type ReplayCache, spendSingleUseToken } from './replay-cache.ts';
import { parseTokenRequest, type RawParameters, TOKEN_TYPE_JWT, type TokenRequest } from './token-request.ts';
import { verifyToken, type VerifiedToken } from './verify-subject-token.ts';

/** Everything a request needs, built once per process (Node) or isolate (Workers). */
export interface Broker {
  readonly config: Config;
  readonly signingKeys: SigningKeys;
  readonly issuerKeys: IssuerKeys;
  readonly audit: AuditLog;
  /** Who makes the credential, per target kind (shared/targets/). */
  readonly targets: TargetIssuers;
  /** Token buckets for the idps' `rate_limit` (see rate-limit.ts for where they live). */
  readonly rateLimits: RateLimiter;
  /** Spent `jti`s of idps with `single_use` (see replay-cache.ts). */
  readonly replayCache: ReplayCache;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Verify, sign and hash on the hot path (shared/crypto-port.ts). */
  readonly crypto: CryptoPort;
}

export interface RequestContext {
  readonly requestId: string;
  readonly clientIp?: string | undefined;
  readonly userAgent?: string | undefined;
}

export interface TokenResponse {
  readonly access_token: string;
  readonly issued_token_type: typeof TOKEN_TYPE_JWT;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly scope: string;
  readonly namespace: string;
}

function malformed(message: string): StsError {
  return new StsError('ERR_REQUEST_MALFORMED', message);
}

/** The target a request names; the only target when the config has one and the client named none. */
export function resolveAudience(config: Config, request: Pick<TokenRequest, 'audience'>): string {
  if (request.audience !== undefined) return request.audience;
  if (config.targets.length === 1) return config.targets[0]!.name;
  throw malformed('audience is required: name the target (several are configured)');
}

/**
 * `readParameters` reads and decodes the body inside the audited region, so a malformed or
 * oversized request is a denial with its own audit event like any other.
 */
export async function exchangeToken(
  broker: Broker,
  readParameters: () => Promise<RawParameters>,
  ctx: RequestContext,
): Promise<TokenResponse> {
  const started = broker.clock();
  const event = startAuditEvent('token', 'denied', ctx, started);
  try {
    await broker.rateLimits.enforceClient(broker.config.rate_limit?.per_client_ip, ctx.clientIp, started);
    const request = parseTokenRequest(await readParameters());
    event.subject_token_sha256 = await broker.crypto.sha256Hex(request.subjectToken);
    event.target = request.audience;
    event.namespace = request.namespace;
    event.scopes = request.scopes;
    event.request_reason = request.reason;
    const target = resolveAudience(broker.config, request);
    event.target = target;

    const now = Math.floor(started / 1000);
    const verifyCtx = { idps: broker.config.idps, keys: broker.issuerKeys, now };
    const subject = await verifyToken(request.subjectToken, verifyCtx);
    if ('failure' in subject) {
      if (subject.verifiedIdentity) {
        const { idp, iss, sub } = subject.verifiedIdentity;
        Object.assign(event, { idp: idp.name, iss, sub });
      }
      throw findingError(subject.failure);
    }
    event.idp = subject.idp.name;
    event.iss = subject.claims.iss;
    event.sub = subject.claims.sub;
    event.context = contextClaims(subject.claims);
    await broker.rateLimits.enforce(subject.idp, subject.claims.sub, started);

    let actor: VerifiedToken | undefined;
    if (request.actorToken !== undefined) {
      const verified = await verifyToken(request.actorToken, verifyCtx);
      if ('failure' in verified) {
        throw new StsError(verified.failure.code ?? 'ERR_INTERNAL', `actor_token: ${verified.failure.message}`, { check: verified.failure.check });
      }
      actor = verified;
      event.actor = `${actor.idp.name}:${actor.claims.sub}`;
    }

    const decision = evaluatePolicy(broker.config, {
      idp: subject.idp.name,
      claims: subject.claims,
      target,
      namespace: request.namespace,
      scopes: request.scopes,
      actor: actor && { idp: actor.idp.name, claims: actor.claims },
    });
    const failure = firstFailure(decision.findings);
    if (failure) {
      event.policy = failure.policy;
      throw findingError(failure);
    }
    if (decision.malformed) throw malformed(decision.malformed);
    const grant = decision.grant!;
    const ttl = grantedTtl(broker.config, grant.policy, request.requestedTtl);
    Object.assign(event, { policy: grant.policy.id, namespace: grant.namespace, scopes: grant.scopes, ttl });

    await spendSingleUseToken(broker.replayCache, subject.idp, subject.claims, now);
    if (actor) await spendSingleUseToken(broker.replayCache, actor.idp, actor.claims, now);
    const jti = crypto.randomUUID();
    const issued = await issueCredential(broker.targets, {
      target: grant.target,
      policy: grant.policy,
      subject: `${subject.idp.name}:${subject.claims.sub}`,
      subjectToken: request.subjectToken,
      now,
      ttl,
      jti,
      namespace: grant.namespace,
      scopes: grant.scopes,
      groups: grant.scopes.map((scope) => groupFor(grant.namespace, scope)),
      preferredUsername: stringClaim(subject.claims.preferred_username) ?? pipelineUsername(subject.idp, subject.claims),
      email: subject.claims.email_verified === true ? stringClaim(subject.claims.email) : undefined,
      act: event.actor ? { sub: event.actor } : undefined,
    });

    // The issuer may shorten the lifetime (TokenRequest, Entra): the audit records the real one,
    // and the issued token's own jti where it has one (a ServiceAccount token's, as in the cluster's audit log).
    Object.assign(event, { decision: 'issued', jti: issued.jti ?? jti, ttl: issued.expiresIn, latency_ms: broker.clock() - started });
    // Durable first: if this throws, the token is dropped and the client gets 503.
    await broker.audit.record(event);
    return {
      access_token: issued.token,
      issued_token_type: TOKEN_TYPE_JWT,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: grant.scopes.join(' '),
      namespace: grant.namespace,
    };
  } catch (err) {
    if (event.decision === 'issued') throw err; // the audit write itself failed; already logged
    Object.assign(event, { decision: 'denied', ...failureFields(err), latency_ms: broker.clock() - started });
    await broker.audit.recordDenial(event);
    throw err;
  }
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
