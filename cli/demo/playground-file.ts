/** Where a running playground (npm run demo -- --keep) says it is: read by `argo-sts dev token`, which an installed package has too. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where `argo-sts dev token` finds a running playground (ARGO_STS_PLAYGROUND_FILE overrides it). */
export function playgroundFile(env: NodeJS.ProcessEnv): string {
  return env.ARGO_STS_PLAYGROUND_FILE || join(tmpdir(), 'argo-sts-playground.json');
}

export interface PlaygroundState {
  readonly broker: string;
  /** GET <desk>/github?sub=...&aud=... and GET <desk>/keycloak?user=alice: a token as text. */
  readonly desk: string;
}
