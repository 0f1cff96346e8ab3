/** `generic`: plain OIDC. The core checks (exact issuer, signature, aud, time) are all there is. */
import { type Preset, unchanged } from './types.ts';

export const genericPreset: Preset = {
  checkConfig: () => [],
  inspect: (claims) => unchanged(claims),
};
