import { ConfigError } from '../../shared/config.ts';
import { loadNodeConfig } from '../../functions/adapters/node-config.ts';
import { type Command, EXIT } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const configCheck: Command = {
  name: 'config check',
  summary: 'validate a config document and print every error with its path',
  help: `Usage: argo-sts config check [--config FILE]

Parses the config exactly as the server does. Prints a summary and exits 0 when it is valid;
prints each error as "<path>: <message>" and exits 2 when it is not.
  --config FILE   the document to check (default: ARGO_STS_CONFIG, then ARGO_STS_CONFIG_FILE)`,
  async run(args, io) {
    const flags = parseFlags(args, { config: 'string' });
    const env = { ...io.env };
    if (flags.config) {
      env.ARGO_STS_CONFIG_FILE = flags.config;
      delete env.ARGO_STS_CONFIG;
    }
    try {
      const config = loadNodeConfig(env);
      io.stdout(`config ok: issuer ${config.issuer}; ${config.idps.length} idp(s), ${config.targets.length} target(s), ${config.policies.length} polic${config.policies.length === 1 ? 'y' : 'ies'}\n`);
      return EXIT.ok;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const issue of err.issues) io.stderr(`${issue}\n`);
      return EXIT.usage;
    }
  },
};
