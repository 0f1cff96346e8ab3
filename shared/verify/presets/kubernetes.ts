/**
 * `kubernetes`: a cluster's ServiceAccount tokens, as the TokenRequest API issues them (projected
 * volumes, `kubectl create token`): `iss` the cluster's `--service-account-issuer`, `sub`
 * `system:serviceaccount:<namespace>:<name>`, and the `kubernetes.io` claim with `namespace`,
 * `serviceaccount {name, uid}` and, for a bound token, `pod {name, uid}` (and `node`).
 *
 * Normalized: the `kubernetes.io` claim is lifted into flat claims policies can match by field —
 * `namespace`, `serviceaccount`, `serviceaccount_uid`, `pod`, `pod_uid`, `node` — so a policy says
 * `claims: { namespace: agents, serviceaccount: release-agent }` instead of parsing `sub`.
 * The flat names are the preset's: a token that carries a top-level claim of one of those names
 * is refused, so no claim can pose as the cluster's.
 *
 * Traps refused:
 * - a legacy, Secret-based token (`iss: kubernetes/serviceaccount`, no `exp`): it never expires
 *   and cannot be revoked short of deleting its Secret (ERR_K8S_LEGACY_TOKEN);
 * - a token for the apiserver's own audience (the pod's default token): every workload of the
 *   cluster holds one, so it proves nothing to the broker (ERR_K8S_APISERVER_AUDIENCE);
 * - a `sub` that contradicts the `kubernetes.io` claim, or a token without that claim.
 * Config: `audiences` containing an apiserver audience, or the issuer itself (the default
 * `--api-audiences`), is refused for the same reason.
 */
import { fail, type Finding } from '../../checks.ts';
import type { Claims } from '../claims.ts';
import type { IdpShape, Preset } from './types.ts';

/** The `iss` of tokens minted from ServiceAccount token Secrets (before TokenRequest). */
export const LEGACY_SERVICE_ACCOUNT_ISSUER = 'kubernetes/serviceaccount';

/** Audiences the apiserver accepts for itself: the pod's default token carries one of them. */
const APISERVER_AUDIENCES = new Set([
  'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'https://kubernetes.default.svc',
  'https://kubernetes.default.svc.cluster.local', 'kubernetes.default.svc.cluster.local',
]);

/** The flat claims this preset derives from `kubernetes.io`. */
export const KUBERNETES_FLAT_CLAIMS = ['namespace', 'serviceaccount', 'serviceaccount_uid', 'pod', 'pod_uid', 'node'] as const;

const SUB = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

function isApiserverAudience(aud: string, issuer: string): boolean {
  return APISERVER_AUDIENCES.has(aud) || aud === issuer;
}

function audiences(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function objectClaim(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function stringField(value: unknown, field: string): string | undefined {
  const v = objectClaim(value)?.[field];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A finding for a legacy Secret-based ServiceAccount token, whatever idp it was sent to. */
export function legacyTokenFinding(): Finding {
  return fail('issuer', 'ERR_K8S_LEGACY_TOKEN',
    'a legacy Secret-based ServiceAccount token (iss kubernetes/serviceaccount, no exp) never expires and is not accepted; mount a projected ServiceAccount token (TokenRequest) with the broker\'s audience',
    { actual: LEGACY_SERVICE_ACCOUNT_ISSUER });
}

/** The identity of a ServiceAccount token from its `kubernetes.io` claim, or a finding saying what is wrong. */
export function serviceAccountIdentity(claims: Claims): { flat: Record<string, string>; findings: Finding[] } {
  const findings: Finding[] = [];
  const flat: Record<string, string> = {};
  for (const name of KUBERNETES_FLAT_CLAIMS) {
    if (Object.hasOwn(claims, name)) {
      findings.push(fail('format', 'ERR_PRESET_CLAIM_INVALID', `a ServiceAccount token has no top-level "${name}" claim; the preset derives it from kubernetes.io`));
    }
  }
  const k8s = objectClaim(claims['kubernetes.io']);
  const namespace = typeof k8s?.namespace === 'string' ? k8s.namespace : undefined;
  const serviceAccount = stringField(k8s?.serviceaccount, 'name');
  const match = typeof claims.sub === 'string' ? SUB.exec(claims.sub) : null;
  if (!k8s || namespace === undefined || serviceAccount === undefined) {
    findings.push(fail('format', 'ERR_PRESET_CLAIM_INVALID', 'the token has no kubernetes.io claim with namespace and serviceaccount: not a ServiceAccount token', {
      actual: claims['kubernetes.io'] ?? null,
    }));
    return { flat, findings };
  }
  if (!match || match[1] !== namespace || match[3] !== serviceAccount) {
    findings.push(fail('format', 'ERR_PRESET_CLAIM_INVALID', 'sub is not system:serviceaccount:<namespace>:<name> of the kubernetes.io claim', { actual: claims.sub }));
    return { flat, findings };
  }
  flat.namespace = namespace;
  flat.serviceaccount = serviceAccount;
  const optional: [string, string | undefined][] = [
    ['serviceaccount_uid', stringField(k8s.serviceaccount, 'uid')],
    ['pod', stringField(k8s.pod, 'name')],
    ['pod_uid', stringField(k8s.pod, 'uid')],
    ['node', stringField(k8s.node, 'name')],
  ];
  for (const [name, value] of optional) if (value !== undefined) flat[name] = value;
  return { flat, findings };
}

function inspectClaims(claims: Claims, idp: IdpShape): Finding[] {
  const findings: Finding[] = [];
  if (claims.exp === undefined && (claims.iss === LEGACY_SERVICE_ACCOUNT_ISSUER || Object.hasOwn(claims, 'kubernetes.io/serviceaccount/secret.name'))) {
    findings.push(legacyTokenFinding());
  }
  const aud = audiences(claims.aud);
  if (aud.length > 0 && !aud.some((a) => idp.audiences.includes(a)) && aud.some((a) => isApiserverAudience(a, idp.issuer))) {
    findings.push(fail('audience', 'ERR_K8S_APISERVER_AUDIENCE',
      "the token is for the apiserver's own audience (a pod's default token, which every workload holds); mount a projected ServiceAccount token with the broker's audience",
      { actual: claims.aud }));
  }
  return findings;
}

export const kubernetesPreset: Preset = {
  checkConfig(idp) {
    const issues: string[] = [];
    for (const aud of idp.audiences) {
      if (isApiserverAudience(aud, idp.issuer)) {
        issues.push(`audiences: "${aud}" is the apiserver's own audience: every pod's default token carries it; accept a dedicated audience (e.g. argo-sts) and mount a projected token for it`);
      }
    }
    return issues;
  },
  inspect(claims, idp) {
    const { flat, findings } = serviceAccountIdentity(claims);
    return { claims: { ...claims, ...flat }, findings: [...inspectClaims(claims, idp), ...findings], unavailable: {} };
  },
};
