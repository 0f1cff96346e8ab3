/** `argo-sts dev token`: a token from the local playground's IdPs (`npm run demo -- --keep`). */
import { readFileSync } from 'node:fs';
import { type Command, EXIT, UsageError } from '../command.ts';
import { parseFlags } from '../flags.ts';
import { type PlaygroundState, playgroundFile } from '../demo/playground-file.ts';

export const devToken: Command = {
  name: 'dev token',
  summary: 'print a token from the local playground (npm run demo -- --keep) for trying exchanges',
  help: `Usage: argo-sts dev token [--idp github|keycloak] [--sub SUB] [--aud AUD] [--user NAME]

Asks the playground that \`npm run demo -- --keep\` leaves running on 127.0.0.1 for a token of one
of its identity providers, and prints it (the token is this command's output, nothing else):
  --idp github     a GitHub-Actions-shaped token (default), sub repo:acme/app:ref:refs/heads/main
                   and aud argo-sts unless --sub / --aud say otherwise
  --idp keycloak   alice's access token from the Keycloak-shaped realm (--user NAME for another)
The playground's address is in ARGO_STS_PLAYGROUND_FILE (default: argo-sts-playground.json in the
temporary directory); the playground removes it when it stops.

Example, README's exchange against the playground:
  export GITHUB_OIDC_TOKEN="$(argo-sts dev token --idp github)"
  curl -s http://127.0.0.1:8787/token -d grant_type=... -d subject_token="$GITHUB_OIDC_TOKEN" ...`,
  async run(args, io) {
    const flags = parseFlags(args, { idp: 'string', sub: 'string', aud: 'string', user: 'string' });
    const idp = flags.idp ?? 'github';
    if (idp !== 'github' && idp !== 'keycloak') throw new UsageError('--idp is github or keycloak');
    const file = playgroundFile(io.env);
    let state: PlaygroundState;
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as PlaygroundState;
    } catch {
      io.stderr(`argo-sts dev token: no playground running (${file} is missing): start one with npm run demo -- --keep\n`);
      return EXIT.failed;
    }
    const url = new URL(`${state.desk}/${idp}`);
    if (idp === 'github') {
      if (flags.sub) url.searchParams.set('sub', flags.sub);
      if (flags.aud) url.searchParams.set('aud', flags.aud);
    } else if (flags.user) url.searchParams.set('user', flags.user);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    } catch {
      io.stderr(`argo-sts dev token: the playground at ${state.desk} does not answer (stopped?): start one with npm run demo -- --keep\n`);
      return EXIT.failed;
    }
    const text = await res.text();
    if (res.status !== 200) {
      io.stderr(`argo-sts dev token: ${text.trim() || `the playground answered ${res.status}`}\n`);
      return EXIT.failed;
    }
    io.stdout(`${text}\n`);
    return EXIT.ok;
  },
};
