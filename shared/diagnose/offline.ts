/**
 * Offline diagnosis, as `argo-sts diagnose` runs without a broker: no config, only the token.
 * It decodes the token, checks its times against this clock and, when its issuer is an https (or
 * loopback) URL that serves OIDC discovery, verifies its signature with the issuer's JWKS — by
 * running the broker's own diagnosis against a config that trusts exactly the token's issuer.
 */
import { decodeJwt } from 'jose';
import { ConfigError } from '../config/parse-config.ts';
import { parseConfig } from '../broker/load-config.ts';
import type { Config } from '../config/schema.ts';
import { diagnose } from './diagnose.ts';
import { type DiagnosisCheck, type TokenFacts } from './diagnosis.ts';
import type { CheckId } from '../errors.ts';
import { webCryptoPort } from '../keys/crypto-port.ts';
import { IssuerKeys } from '../verify/issuer-keys.ts';
import type { FetchLike } from '../http/fetch-capped.ts';

export interface OfflineOptions {
  readonly fetch: FetchLike;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Seconds of leeway on exp, nbf and iat (the broker's default is 60). */
  readonly leeway: number;
}

export interface OfflineDiagnosis {
  readonly mode: 'offline';
  /** `deny` when a check fails; `unknown` otherwise, since only a broker knows its policies. */
  readonly verdict: 'deny' | 'unknown';
  readonly server_time: string;
  readonly token?: TokenFacts;
  readonly checks: readonly DiagnosisCheck[];
}

const OFFLINE_BROKER = 'https://argo-sts.offline.invalid';
const OFFLINE_SKIPS: Partial<Record<CheckId, string>> = {
  audience: "offline: the accepted audiences are in the broker's config",
  policy: 'offline: policies are checked by the broker (use --broker URL, or --config FILE)',
  target: 'offline: targets are in the broker\'s config',
  namespace: 'offline: namespaces are granted by the broker\'s policies',
  scope: 'offline: scopes are granted by the broker\'s policies',
};

/**
 * Decodes the token, checks its times against this clock and, when its issuer is an https (or
 * loopback) URL that serves OIDC discovery, verifies its signature with the issuer's JWKS. The
 * URL comes from the token itself: this runs on the token holder's machine, never in the broker.
 */
export async function diagnoseOffline(raw: string, options: OfflineOptions): Promise<OfflineDiagnosis> {
  const iss = unverifiedIssuer(raw);
  let config: Config;
  try {
    config = offlineConfig(iss ?? OFFLINE_BROKER, options.leeway);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    config = offlineConfig(`${OFFLINE_BROKER}/unusable-issuer`, options.leeway);
  }
  const issuerKeys = new IssuerKeys({ fetch: options.fetch, clock: options.clock, shareInFlight: true });
  const { diagnosis } = await diagnose({ config, issuerKeys, crypto: webCryptoPort, clock: options.clock }, { subject_token: raw, audience: 'offline' }, 'offline');
  const checks = diagnosis.checks.map((c): DiagnosisCheck => {
    const skip = OFFLINE_SKIPS[c.check];
    if (skip) return { check: c.check, status: 'skip', message: skip, ...(c.actual !== undefined && c.check === 'audience' && { actual: c.actual }) };
    if (c.check === 'issuer' && c.status !== 'skip') {
      return config.idps[0]!.issuer === iss
        ? { check: 'issuer', status: 'pass', message: 'offline: the issuer is an https (or loopback) URL; whether the broker trusts it is in its config', actual: iss }
        : { check: 'issuer', status: 'fail', message: 'the token has no usable iss: an https URL (http only for loopback hosts) is required', actual: iss ?? null };
    }
    if (c.check === 'signature' && c.cause === 'signature.keys-unavailable') {
      return { ...c, status: 'skip', message: `offline: the issuer's keys could not be fetched (${issuerKeys.failures()[iss ?? ''] ?? 'no answer'}); the signature was not checked` };
    }
    return c;
  });
  return {
    mode: 'offline',
    verdict: checks.some((c) => c.status === 'fail') ? 'deny' : 'unknown',
    server_time: diagnosis.server_time,
    ...(diagnosis.token && { token: diagnosis.token }),
    checks,
  };
}

function unverifiedIssuer(raw: string): string | undefined {
  try {
    const iss = decodeJwt(raw.replace(/^bearer\s+/i, '')).iss;
    return typeof iss === 'string' && iss !== '' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** A config that trusts exactly the token's issuer, so the core's own checks run unchanged. */
function offlineConfig(issuer: string, leeway: number): Config {
  return parseConfig({
    issuer: OFFLINE_BROKER,
    signing: { keys: 'generate' },
    defaults: { clock_skew: leeway },
    idps: [{ name: 'offline', issuer, audiences: ['offline'], clock_skew: leeway }],
    targets: [{ name: 'offline', kind: 'kubernetes-oidc', audience: 'offline' }],
    policies: [],
    diagnose: { reveal: 'full' },
  });
}
