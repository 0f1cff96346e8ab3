/** `argo-sts demo` (`npm run demo`): the whole story on loopback, in about a second. */
import { type Command, EXIT, UsageError } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const demo: Command = {
  name: 'demo',
  summary: 'run the whole story on loopback: CI exchange, an agent acting for a person, a refusal, a diagnosis, the audit trail',
  help: `Usage: argo-sts demo [--keep [--port PORT]]      (or: npm run demo, npm run demo -- --keep)

Starts, on 127.0.0.1 only: a Keycloak-shaped realm (a real OpenID Provider, oidc-provider), a
GitHub-Actions-shaped issuer and job token endpoint, and the broker on Node with a SQLite audit
trail in a temporary directory. Then shows:
  1. a CI job exchanging its GitHub Actions token (argo-sts exchange --format env), decoded;
  2. an AI agent acting for a person (the "act" claim, the reason in the audit event);
  3. a refused escalation, with its check and request_id;
  4. the diagnosis of a token from a host whose clock is ahead;
  5. the audit trail of all of it.
Stops everything it started and removes the directory. Exit status 0 when every scene behaved.
  --keep        then leave the playground running until Ctrl-C: the broker on 127.0.0.1:PORT
                (README's curl works verbatim), the two IdPs, and \`argo-sts dev token\` to get
                their tokens; Ctrl-C stops it all and exits 0
  --port PORT   the playground broker's port (default 8787; 0 picks a free one)`,
  async run(args, io) {
    const flags = parseFlags(args, { keep: 'boolean', port: 'string' });
    const port = flags.port === undefined ? 8787 : Number(flags.port);
    if (!/^\d+$/.test(flags.port ?? '8787') || port > 65535) throw new UsageError('--port must be a port number (0-65535)');
    if (flags.port !== undefined && !flags.keep) throw new UsageError('--port is the playground\'s: give --keep too');
    // The installed package carries no devDependencies, and the demo's OpenID Provider is one.
    if (!resolves('oidc-provider')) {
      io.stderr('argo-sts demo: the demo runs in a clone of the repository (npm ci && npm run demo): its OpenID Provider, oidc-provider, is a devDependency that an installed argo-sts does not have\n');
      return EXIT.failed;
    }
    // Loaded on demand: the demo's servers and node:sqlite are not needed by other commands.
    const { runDemo } = await import('../demo/run-demo.ts');
    return runDemo(io, { keep: flags.keep === true, port });
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
