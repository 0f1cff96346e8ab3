/**
 * The identity-provider presets by name (`preset:` on an idp). See docs/presets.md.
 */
import type { IdpConfig } from '../../config/schema.ts';
import { fail, type Finding } from '../../checks.ts';
import type { Claims } from '../claims.ts';
import { entraPreset } from './entra.ts';
import { genericPreset } from './generic.ts';
import { githubActionsPreset } from './github-actions.ts';
import { gitlabPreset } from './gitlab.ts';
import { keycloakPreset } from './keycloak.ts';
import type { IdpShape, Preset, PresetInspection } from './types.ts';

export type { IdpShape, NearMiss, Preset, PresetInspection } from './types.ts';

const PRESETS: Record<IdpConfig['preset'], Preset> = {
  'github-actions': githubActionsPreset,
  gitlab: gitlabPreset,
  keycloak: keycloakPreset,
  entra: entraPreset,
  generic: genericPreset,
};

/** Every preset's near-miss knowledge, in the order /diagnose asks them. */
export const NEAR_MISSES = [entraPreset, keycloakPreset, githubActionsPreset, gitlabPreset].flatMap((p) => (p.nearMiss ? [p.nearMiss] : []));

export function presetFor(name: IdpConfig['preset']): Preset {
  return PRESETS[name];
}

/** Config-time checks of one idp against its preset; every issue names its path. */
export function checkIdpPreset(idp: IdpShape, at: string): string[] {
  const issues = presetFor(idp.preset).checkConfig(idp).map((issue) => `${at}.${issue}`);
  if (idp.tenant_id !== undefined && idp.preset !== 'entra') issues.push(`${at}.tenant_id: only the entra preset uses tenant_id`);
  return issues;
}

/** Runs the idp's preset on verified claims. */
export function inspectWithPreset(claims: Claims, idp: IdpShape): PresetInspection {
  return presetFor(idp.preset).inspect(claims, idp);
}

/** A finding for a policy that binds a claim the token could not carry (groups overage). */
export function unavailableClaimFinding(claim: string, reason: string, policy: string): Finding {
  return fail('policy', 'ERR_CLAIM_OVERAGE', `claim "${claim}" is unavailable: ${reason}`, { policy });
}
