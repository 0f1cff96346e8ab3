/**
 * The shape of an identity-provider preset. A preset knows its provider's token shape: it checks
 * the idp's configuration at load (issuer shape, required options), normalizes claims that need
 * it after the signature verified, and refuses the provider's known traps with a named code.
 *
 * Presets are pure: claims and config in, claims and findings out, no I/O, no clock.
 */
import type { IdpConfig } from '../../config/schema.ts';
import type { Finding } from '../../checks.ts';
import type { Claims } from '../claims.ts';

/** The fields of an idp that presets read; config-time checks see them before defaults apply. */
export type IdpShape = Pick<IdpConfig, 'name' | 'issuer' | 'audiences' | 'preset' | 'tenant_id'>;

export interface PresetInspection {
  /** The claims policies see: the verified claims, normalized. */
  readonly claims: Claims;
  /** Failures (and notes) for the provider's traps, each on the check it belongs to. */
  readonly findings: readonly Finding[];
  /**
   * Claims the token says exist but does not carry (Entra's groups overage): claim name → reason.
   * A policy that binds such a claim refuses with the reason instead of matching on nothing.
   */
  readonly unavailable: Readonly<Record<string, string>>;
}

/**
 * What a preset knows of the near misses of its provider's shapes, for /diagnose: each answers a
 * cause id of shared/diagnose/catalogue.ts, or undefined when the shapes are not its provider's.
 * They read the issuers' shapes, not the configured preset, so a misconfigured preset still gets
 * the provider's hint.
 */
export interface NearMiss {
  /** Why a token's issuer is not the configured one (both already differ exactly). */
  issuer?(tokenIss: string, configured: string, preset: string | undefined): string | undefined;
  /** Why a token's audience is not accepted, from its aud and its issuer. */
  audience?(aud: readonly string[], issuer: string, preset: string | undefined, accepted: readonly string[]): string | undefined;
}

export interface Preset {
  /** Config-time checks of the idp; each issue is `<field>: <message>` relative to the idp. */
  checkConfig(idp: IdpShape): string[];
  /** Runs on verified claims only. */
  inspect(claims: Claims, idp: IdpShape): PresetInspection;
  readonly nearMiss?: NearMiss;
}

/** Claims unchanged, nothing to say. */
export function unchanged(claims: Claims): PresetInspection {
  return { claims, findings: [], unavailable: {} };
}

/** The parsed issuer URL, or undefined (the schema has already refused a non-URL). */
export function issuerUrl(issuer: string): URL | undefined {
  try {
    return new URL(issuer);
  } catch {
    return undefined;
  }
}
