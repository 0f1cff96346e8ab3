/**
 * POST /diagnose: the same parameters as /token, every check the broker can run, never a token.
 *
 * It reuses the exchange's own steps (inspectToken with stopAtFirstFailure off, evaluatePolicy)
 * and adds what a person needs: the near-miss issuer, the known cause of an audience failure,
 * the measured clock skew, the policy trace — hints from shared/diagnose/catalogue.ts.
 *
 * Disclosure (`diagnose.reveal`): facts about the presented token are always shown. Expected
 * values, configuration-naming hints and the policy trace are shown under `full`, or under
 * `verified` (the default) when the token's signature verifies against a configured issuer's keys
 * (including the issuer it nearly names); never under `basic`. Under `verified`, a token whose
 * signature does not verify is not checked against audiences or policies at all, so a forged
 * token learns nothing the configuration holds.
 */
import { AUDIT_TEXT_MAX, contextClaims } from '../audit/audit-event.ts';
import { causeById } from './catalogue.ts';
import { findIssuerNearMiss } from './near-miss.ts';
import type { IdpConfig } from '../config/schema.ts';
import { fail, summarizeChecks } from '../checks.ts';
import type { RawParameters } from '../exchange/token-request.ts';
import { BEARER_PREFIX, BEARER_PREFIX_MESSAGE, checkSignature, inspectToken } from '../verify/verify-subject-token.ts';
import { checkClaims } from '../verify/check-claims.ts';
import { servesIdentity } from '../policy/evaluate-policy.ts';
import { type Annotated, type AuditFacts, CLAIM_CHECKS, type DiagnoseDeps, type Diagnosis, REQUEST_CHECKS, type TokenFacts } from './diagnosis.ts';
import { readRequest } from './lenient-request.ts';
import { annotateClaims, annotateToken, checkOwnCredential, describeGrant, gateOnSignature } from './annotate-token.ts';
import { evaluateRequest } from './annotate-policy.ts';
import { isSharedIssuer, present, visiblePolicies, withCodeCause } from './disclosure.ts';

/** Runs every check for a request's parameters. Pure apart from fetching configured issuers' keys. */
export async function diagnose(deps: DiagnoseDeps, params: RawParameters, requestId: string): Promise<{ diagnosis: Diagnosis; audit: AuditFacts }> {
  const { config } = deps;
  const now = Math.floor(deps.clock() / 1000);
  const serverTime = new Date(now * 1000).toISOString();
  const audit: AuditFacts = {};
  const findings: Annotated[] = [];
  const { problems, request } = readRequest(params, findings);

  let raw = params.subject_token ?? '';
  if (BEARER_PREFIX.test(raw)) {
    // /token stops here; /diagnose also diagnoses the bare token behind the prefix.
    raw = raw.replace(BEARER_PREFIX, '');
    findings.push({ ...fail('format', 'ERR_TOKEN_FORMAT', BEARER_PREFIX_MESSAGE), cause: causeById('format.bearer-prefix') });
  }

  let revealed = config.diagnose.reveal === 'full';
  let token: TokenFacts | undefined;
  if (request.tokenUsable) {
    const inspection = await inspectToken(raw, { idps: config.idps, keys: deps.issuerKeys, crypto: deps.crypto, now }, { stopAtFirstFailure: false });
    const { header, claims } = inspection;
    // As on /token: only a genuine token for a served audience and identity spends the budgets.
    const audienceServed = inspection.findings.some((f) => f.check === 'audience' && f.status === 'pass');
    if (inspection.signatureVerified && inspection.idp && audienceServed && typeof claims?.sub === 'string' && servesIdentity(config, inspection.idp.name, claims)) {
      await deps.rateLimits?.enforce(inspection.idp, claims.sub, deps.clock());
    }
    if (header) token = { alg: header.alg, kid: header.kid, typ: header.typ };
    if (claims) token = { ...token, iss: claims.iss, sub: claims.sub, aud: claims.aud, iat: claims.iat, nbf: claims.nbf, exp: claims.exp };

    const iss = typeof claims?.iss === 'string' ? claims.iss : undefined;
    const near = !inspection.idp && iss ? findIssuerNearMiss(iss, config.idps) : undefined;
    let nearVerified = false;
    let nearSignature: Annotated | undefined;
    if (near && header) {
      const signature = await checkSignature(raw, header, near.idp, deps.issuerKeys, deps.crypto);
      nearVerified = signature.status === 'pass';
      nearSignature = nearVerified
        ? { ...signature, message: `the signature verifies with a key of idp "${near.idp.name}", whose issuer the token nearly names` }
        : signature;
    }
    if (iss !== undefined && iss === config.issuer && header && claims && deps.ownKeys) {
      findings.push(await checkOwnCredential(raw, header.kid, claims, deps.ownKeys, now));
    }
    const verified = inspection.signatureVerified || nearVerified;
    if (config.diagnose.reveal === 'verified') revealed = verified;

    for (const f of inspection.findings) {
      if (!inspection.idp && CLAIM_CHECKS.has(f.check)) continue; // recomputed below with the right leeway
      findings.push(annotateToken(f, { raw, config, deps, near, serverTime, iss, grant: claims && describeGrant(claims, now) }));
    }
    if (nearSignature && revealed) findings.push(annotateToken(nearSignature, { raw, config, deps, near, serverTime, iss }));
    // The event names who presented the token only when its signature verified (docs/audit.md):
    // a forged token must not plant events attributed to any subject. Its hash is recorded anyway.
    if (verified && iss) audit.iss = iss.slice(0, AUDIT_TEXT_MAX);
    if (verified && typeof claims?.sub === 'string') audit.sub = claims.sub.slice(0, AUDIT_TEXT_MAX);

    if (claims) {
      const claimIdp = inspection.idp ?? near?.idp;
      if (!inspection.idp) {
        // An untrusted issuer: times with the idp it nearly names, else with the default leeway.
        const timeIdp: IdpConfig = claimIdp ?? {
          ...config.idps[0]!,
          clock_skew: config.defaults.clock_skew,
          max_token_age: undefined,
          max_token_lifetime: undefined,
        };
        for (const f of checkClaims(claims, timeIdp, now)) {
          if (!CLAIM_CHECKS.has(f.check)) continue;
          if (f.check === 'audience' && !claimIdp && f.code !== 'ERR_TOKEN_CLAIM_MISSING') {
            findings.push({ check: 'audience', status: 'skip', message: 'not checked: no configured issuer, so no accepted audiences apply', actual: claims.aud });
            continue;
          }
          findings.push(annotateClaims(f, claims, timeIdp, serverTime));
        }
      } else {
        for (let i = 0; i < findings.length; i++) {
          const f = findings[i]!;
          if (CLAIM_CHECKS.has(f.check)) findings[i] = annotateClaims(f, claims, inspection.idp, serverTime);
        }
      }
      if (!verified && !revealed) gateOnSignature(findings, ['audience'], config.diagnose.reveal);

      const policyIdp = inspection.idp ?? (near && (nearVerified || config.diagnose.reveal === 'full') ? near.idp : undefined);
      if (policyIdp && (verified || revealed)) {
        if (verified) {
          audit.idp = policyIdp.name;
          audit.context = contextClaims(claims);
        }
        // A shared issuer's genuine token proves only that its holder is on that platform: it sees
        // the policies its identity matches, and no configured value at all when it matches none.
        const visible = config.diagnose.reveal === 'verified' && isSharedIssuer(policyIdp) ? visiblePolicies(config, policyIdp.name, claims) : undefined;
        if (visible?.size === 0) revealed = false;
        findings.push(...(await evaluateRequest(deps, policyIdp, claims, request, now, audit, visible)));
      } else if (policyIdp) {
        gateOnSignature(findings, REQUEST_CHECKS, config.diagnose.reveal);
      }
    }
  }

  const checks = summarizeChecks(findings.map(withCodeCause)).map((f) => present(f as Annotated, revealed));
  const failed = checks.some((c) => c.status === 'fail') || problems.length > 0;
  return {
    diagnosis: {
      verdict: failed ? 'deny' : 'issue',
      request_id: requestId,
      server_time: serverTime,
      disclosure: revealed ? 'full' : 'summarized',
      reveal: config.diagnose.reveal,
      ...(token && { token }),
      ...(problems.length > 0 && { request_problems: problems }),
      checks,
    },
    audit,
  };
}
