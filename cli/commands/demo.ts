/** `argo-sts demo` (`npm run demo`): the whole story on loopback, in about a second. */
import { type Command, EXIT } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const demo: Command = {
  name: 'demo',
  summary: 'run the whole story on loopback: CI exchange, an agent acting for a person, a refusal, a diagnosis, the audit trail',
  help: `Usage: argo-sts demo      (or: npm run demo)

Starts, on 127.0.0.1 only: a Keycloak-shaped realm (a real OpenID Provider, oidc-provider), a
GitHub-Actions-shaped issuer and job token endpoint, and the broker on Node with a SQLite audit
trail in a temporary directory. Then shows:
  1. a CI job exchanging its GitHub Actions token (argo-sts exchange --format env), decoded;
  2. an AI agent acting for a person (the "act" claim, the reason in the audit event);
  3. a refused escalation, with its check and request_id;
  4. the diagnosis of a token from a host whose clock is ahead;
  5. the audit trail of all of it.
Stops everything it started and removes the directory. Exit status 0 when every scene behaved.`,
  async run(args, io) {
    parseFlags(args, {});
    // The installed package carries no devDependencies, and the demo's OpenID Provider is one.
    if (!resolves('oidc-provider')) {
      io.stderr('argo-sts demo: the demo runs in a clone of the repository (npm ci && npm run demo): its OpenID Provider, oidc-provider, is a devDependency that an installed argo-sts does not have\n');
      return EXIT.failed;
    }
    // Loaded on demand: the demo's servers and node:sqlite are not needed by other commands.
    const { runDemo } = await import('../demo/run-demo.ts');
    return runDemo(io);
  },
};

function resolves(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return false;
    throw err;
  }
}
