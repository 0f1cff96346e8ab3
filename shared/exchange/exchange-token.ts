/**
 * The token exchange (RFC 8693), end to end: request → subject (and actor) verification →
 * policy → mint → durable audit → response. Every decision, issued or denied, is audited; a
 * token is returned only after its audit record is durable.
 */
import type { Broker } from '../broker/broker.ts';
import { contextClaims, failureFields, startAuditEvent } from '../audit/audit-event.ts';
import type { Config } from '../config/schema.ts';
import { StsError } from '../errors.ts';
import { evaluatePolicy, grantedTtl, servesIdentity } from '../policy/evaluate-policy.ts';
import { findingError, firstFailure } from '../checks.ts';
import { groupFor } from '../policy/scopes.ts';
import { issueCredential } from '../targets/issue-credential.ts';
import { pipelineUsername } from '../targets/mint-token.ts';
import { reserveSingleUseToken } from './replay-cache.ts';
import { parseTokenRequest, type RawParameters, type TokenRequest } from './token-request.ts';
import { GRANT_TYPE_JWT_BEARER, TOKEN_TYPE_JWT } from '../oauth.ts';
import { requireApproval } from './approvals.ts';
import { asGrantError, assertionIdps, checkAssertion, isIdJag, parseJwtBearerRequest, requestUnderIdJag } from './jwt-bearer.ts';
import { verifyToken, type VerifiedToken } from '../verify/verify-subject-token.ts';
import { chainMembers } from '../policy/delegation-chain.ts';

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

/** The target a request names; the only target when the config has one and the client named none. */
export function resolveAudience(config: Config, request: Pick<TokenRequest, 'audience'>): string {
  if (request.audience !== undefined) return request.audience;
  if (config.targets.length === 1) return config.targets[0]!.name;
  throw new StsError('ERR_REQUEST_MALFORMED', 'audience is required: name the target (several are configured)', { check: 'target' });
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
  // Single-use tokens reserved by this exchange: released unless it issues (replay-cache.ts).
  const reserved: string[] = [];
  let jwtBearer = false;
  try {
    await broker.rateLimits.enforceClient(broker.config.rate_limit?.per_client_ip, ctx.clientIp, started);
    const params = await readParameters();
    jwtBearer = params.grant_type === GRANT_TYPE_JWT_BEARER;
    let request = jwtBearer ? parseJwtBearerRequest(params) : parseTokenRequest(params);
    event.subject_token_sha256 = await broker.crypto.sha256Hex(request.subjectToken);
    event.target = request.audience;
    event.namespace = request.namespace;
    event.scopes = request.scopes;
    event.request_reason = request.reason;
    // A jwt-bearer request may take its target from the ID-JAG's resource, known once it verified.
    let target = jwtBearer ? '' : resolveAudience(broker.config, request);
    event.target = target || request.audience;

    const now = Math.floor(started / 1000);
    const verifyCtx = { idps: broker.config.idps, keys: broker.issuerKeys, crypto: broker.crypto, now };
    const idJag = jwtBearer && isIdJag(request.subjectToken);
    const subject = await verifyToken(request.subjectToken, idJag ? { ...verifyCtx, idps: assertionIdps(broker.config, true) } : verifyCtx);
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
    // The audience is verified by now; only identities a policy serves spend the budgets.
    if (servesIdentity(broker.config, subject.idp.name, subject.claims)) await broker.rateLimits.enforce(subject.idp, subject.claims.sub, started);
    if (jwtBearer) {
      const assertionFailure = firstFailure(checkAssertion(subject.claims, subject.idp, idJag, request.clientId));
      if (assertionFailure) throw findingError(assertionFailure);
      if (idJag) request = requestUnderIdJag(request, subject.claims);
      target = resolveAudience(broker.config, request);
      Object.assign(event, { target, scopes: request.scopes });
    }

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
      unavailable: subject.unavailable,
    });
    const failure = firstFailure(decision.findings);
    if (failure) {
      event.policy = failure.policy;
      throw findingError(failure);
    }
    if (decision.malformed) throw new StsError('ERR_REQUEST_MALFORMED', decision.malformed, { check: 'namespace' });
    const grant = decision.grant!;
    const ttl = grantedTtl(broker.config, grant.policy, request.requestedTtl);
    Object.assign(event, { policy: grant.policy.id, namespace: grant.namespace, scopes: grant.scopes, ttl, actor_chain: grant.act && chainMembers(grant.act) });

    await requireApproval(broker, {
      policy: grant.policy, requester: `${subject.idp.name}:${subject.claims.sub}`, actor: event.actor, target: grant.target.name,
      namespace: grant.namespace, scopes: grant.scopes, ttl, reason: request.reason, approvalId: request.approvalId, now,
    }, (id) => {
      event.approval_id = id;
    });
    // An ID-JAG is single-use whatever its idp says (draft-ietf-oauth-identity-assertion-authz-grant).
    const subjectIdp = idJag ? { ...subject.idp, single_use: true } : subject.idp;
    for (const token of actor ? [{ idp: subjectIdp, claims: subject.claims }, actor] : [{ idp: subjectIdp, claims: subject.claims }]) {
      const key = await reserveSingleUseToken(broker.replayCache, token.idp, token.claims, now);
      if (key !== undefined) reserved.push(key);
    }
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
      act: grant.act,
    });

    // The issuer may shorten the lifetime (TokenRequest, Entra): the audit records the real one,
    // and the issued token's own jti where it has one (a ServiceAccount token's, as in the cluster's audit log).
    Object.assign(event, { decision: 'issued', jti: issued.jti ?? jti, ttl: issued.expiresIn, latency_ms: broker.clock() - started });
    // Durable first: if this throws, the token is dropped and the client gets 503.
    await broker.audit.record(event);
    reserved.length = 0; // committed: the credential leaves the broker
    return {
      access_token: issued.token,
      issued_token_type: TOKEN_TYPE_JWT,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: grant.scopes.join(' '),
      namespace: grant.namespace,
    };
  } catch (err) {
    await Promise.allSettled(reserved.map((key) => broker.replayCache.release(key)));
    if (event.decision === 'issued') throw err; // the audit write itself failed; already logged
    Object.assign(event, { decision: 'denied', ...failureFields(err), latency_ms: broker.clock() - started });
    await broker.audit.recordDenial(event);
    throw jwtBearer ? asGrantError(err) : err;
  }
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
