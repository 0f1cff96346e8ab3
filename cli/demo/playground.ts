/**
 * `npm run demo -- --keep`: after the story, the playground stays up on 127.0.0.1 — the broker on
 * PORT 8787 (README's curl works verbatim against it), the GitHub-Actions-shaped issuer, the
 * Keycloak-shaped realm, and a token desk that hands out their tokens, so an exchange, a diagnosis
 * and the diagnose page can be tried with no IdP of one's own. `argo-sts dev token` reads the desk's
 * address from the playground file (0600, removed on exit). Ctrl-C (SIGINT) or SIGTERM stops it all.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import type { LoopbackIdp } from '../../test/support/loopback-idp.ts';
import { fixtureClaims } from '../../test/support/loopback-idp.ts';
import type { KeycloakRealm } from './keycloak-realm.ts';
import { type PlaygroundState, playgroundFile } from './playground-file.ts';

/** The token desk: loopback only, tokens of the playground's own IdPs, nothing else. */
export async function startTokenDesk(github: LoopbackIdp, realm: KeycloakRealm, users: readonly string[]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const answer = (status: number, text: string) => res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(text);
    if (req.method !== 'GET') return answer(405, 'GET only\n');
    if (url.pathname === '/github') {
      const now = Math.floor(Date.now() / 1000);
      const overrides: Record<string, unknown> = { iss: github.issuer };
      for (const claim of ['sub', 'aud', 'repository', 'repository_owner', 'ref'] as const) {
        const value = url.searchParams.get(claim);
        if (value) overrides[claim] = value;
      }
      github.sign(fixtureClaims('github-actions', now, overrides)).then((token) => answer(200, token), () => answer(500, 'signing failed\n'));
      return;
    }
    if (url.pathname === '/keycloak') {
      const user = url.searchParams.get('user') ?? users[0]!;
      if (!users.includes(user)) return answer(404, `no user ${user} in the playground realm (users: ${users.join(', ')})\n`);
      realm.signIn(user).then((token) => answer(200, token), () => answer(500, 'sign-in failed\n'));
      return;
    }
    answer(404, 'GET /github or /keycloak\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Writes the playground file owner-only; returns a function that removes it. */
export function publishPlayground(env: NodeJS.ProcessEnv, state: PlaygroundState): () => void {
  const file = playgroundFile(env);
  writeFileSync(file, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  return () => rmSync(file, { force: true });
}

/** Resolves on SIGINT or SIGTERM. */
export function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
