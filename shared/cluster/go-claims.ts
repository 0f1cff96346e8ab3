/**
 * A token's claims as kube-apiserver decodes them: go-oidc v2's IDTokenVerifier unmarshals the
 * payload into its idToken struct (Go encoding/json) before any check, and the oidc authenticator
 * unmarshals each mapped claim into a Go string or list. So, unlike a JSON reading:
 *   - exp, iat, nbf are numbers or strings holding one (json.Number), truncated to whole seconds;
 *     anything else (null included, except for nbf, a pointer) fails the whole token;
 *   - sub, nonce, at_hash must be strings (or null); aud a string or a list of strings;
 *     `_claim_names` must name sources that `_claim_sources` has;
 *   - null reads as "" for a string and as no entries for a list, so a null username claim maps
 *     to the bare prefix and a null groups claim to no groups.
 * Verified against kube-apiserver 1.37 in test/stack/diagnose-cluster.test.ts.
 */

/** How Go reads a JSON value into a string: a string, or "" for null; undefined when it fails. */
export function goString(value: unknown): string | undefined {
  if (value === null) return '';
  return typeof value === 'string' ? value : undefined;
}

/** The oidc authenticator's stringOrArray (groups): a list of strings (null items ""), one string, or none for null. */
export function goStringList(value: unknown): string[] | undefined {
  if (value === null) return [];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return undefined;
  const out = value.map(goString);
  return out.every((v): v is string => v !== undefined) ? out : undefined;
}

/** go-oidc's audience: one string (null reads as ""), or a list of strings. */
export function goAudience(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (value === null || typeof value === 'string') return [goString(value)!];
  return Array.isArray(value) ? goStringList(value) : undefined;
}

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** go-oidc's jsonTime in whole seconds: undefined when absent, null when Go cannot read it. */
export function goTime(value: unknown): number | undefined | null {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && JSON_NUMBER.test(value) ? Number(value) : NaN;
  return Number.isFinite(n) ? Math.trunc(n) : null;
}

/** Why go-oidc cannot decode the payload beyond exp, iat, nbf and aud (each checked where it is used); [] when it can. */
export function payloadProblems(claims: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const name of ['sub', 'nonce', 'at_hash']) {
    if (claims[name] !== undefined && goString(claims[name]) === undefined) problems.push(`${name} is ${jsonKind(claims[name])}, not a string`);
  }
  const names = objectOrNull(claims._claim_names);
  const sources = objectOrNull(claims._claim_sources);
  if (names === undefined) problems.push(`_claim_names is ${jsonKind(claims._claim_names)}, not an object of strings`);
  if (sources === undefined) problems.push(`_claim_sources is ${jsonKind(claims._claim_sources)}, not an object`);
  for (const [name, source] of Object.entries(sources ?? {})) {
    const fields = objectOrNull(source);
    if (fields === undefined || (fields && [fields.endpoint, fields.access_token].some((v) => v !== undefined && goString(v) === undefined))) {
      problems.push(`_claim_sources.${name} is not an object with string endpoint and access_token`);
    }
  }
  for (const [claim, source] of Object.entries(names ?? {})) {
    const src = goString(source);
    if (src === undefined) problems.push(`_claim_names.${claim} is ${jsonKind(source)}, not a string`);
    else if (src === '') problems.push(`_claim_names.${claim} names no source`);
    else if (!sources || !(src in sources)) problems.push(`_claim_names.${claim} names source ${JSON.stringify(src)}, which _claim_sources does not have`);
  }
  return problems;
}

function objectOrNull(value: unknown): Record<string, unknown> | null | undefined {
  if (value === undefined || value === null) return null;
  return typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value} (${JSON.stringify(value)})`.slice(0, 80);
}
