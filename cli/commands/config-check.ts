import { ConfigError } from '../../shared/config/parse-config.ts';
import type { Config } from '../../shared/config/schema.ts';
import { loadNodeConfig } from '../../functions/node/config-source.ts';
import { type Command, EXIT } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const configCheck: Command = {
  name: 'config check',
  summary: 'validate a config document and print every error with its path',
  help: `Usage: argo-sts config check [FILE | --config FILE]

Parses the config exactly as the server does, including the policy compile step and every
policy's \`examples\` (claims in, expected decision out; docs/policy.md). Prints a summary and
exits 0 when it is valid; prints each error as "<path>: <message>" and exits 2 when it is not.
Errors are what the server refuses to start with. Warnings ("warning: <path>: ...", exit 0) are
what only this machine can tell: an env: secret reference whose variable is not set here (the
server resolves secrets at start-up and refuses to start without them; docs/config.md).
  FILE, --config FILE   the document to check (default: ARGO_STS_CONFIG, then ARGO_STS_CONFIG_FILE)`,
  async run(args, io) {
    const flags = parseFlags(args, { config: 'string' }, { positionals: 1 });
    const env = { ...io.env };
    const file = flags.config ?? flags._[0];
    if (file) {
      env.ARGO_STS_CONFIG_FILE = file;
      delete env.ARGO_STS_CONFIG;
    }
    try {
      const config = loadNodeConfig(env);
      const examples = [...config.policies, ...config.denyPolicies].reduce((n, p) => n + (p.examples?.length ?? 0), 0);
      for (const warning of unsetEnvSecrets(config, io.env)) io.stderr(`warning: ${warning}\n`);
      io.stdout(`config ok: issuer ${config.issuer}; ${config.idps.length} idp(s), ${config.targets.length} target(s), ${config.policies.length} polic${config.policies.length === 1 ? 'y' : 'ies'}` +
        `${config.denyPolicies.length ? ` + ${config.denyPolicies.length} deny` : ''}; ${examples} policy example(s) hold\n`);
      return EXIT.ok;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const issue of err.issues) io.stderr(`${issue}\n`);
      return EXIT.usage;
    }
  },
};

/** `env:NAME` secret references (signing keys, target credentials, database) whose variable is unset in `env`. */
export function unsetEnvSecrets(config: Config, env: Readonly<Record<string, string | undefined>>): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      const name = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(value)?.[1];
      if (name && env[name] === undefined) out.push(`${path}: ${value} is not set here; the server refuses to start unless it is set where it runs`);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}[${i}]`));
    } else if (value && typeof value === 'object' && !(value instanceof Map)) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    }
  };
  // Policies hold claim values, not secret references.
  const { policies: _p, denyPolicies: _d, scopes: _s, ...secrets } = config;
  walk(secrets, '');
  return out;
}
