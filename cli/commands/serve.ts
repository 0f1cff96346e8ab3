import { startNodeServer } from '../../functions/node.ts';
import { loadNodeConfig } from '../../functions/node/config-source.ts';
import { type Command, EXIT } from '../command.ts';
import { parseFlags } from '../flags.ts';

export const serve: Command = {
  name: 'serve',
  summary: 'serve the broker on Node (what `npm start` runs)',
  help: `Usage: argo-sts serve [--config FILE] [--host HOST] [--port PORT]

Serves POST /token, /diagnose, discovery and health on HOST:PORT.
  --config FILE   the config document (default: ARGO_STS_CONFIG, then ARGO_STS_CONFIG_FILE)
  --host HOST     listen address (default: HOST or 127.0.0.1)
  --port PORT     listen port (default: PORT or 8787; 0 picks a free port)
stdout carries one JSON audit line per decision; messages go to stderr.`,
  async run(args, io) {
    const flags = parseFlags(args, { config: 'string', host: 'string', port: 'string' });
    const env = { ...io.env };
    if (flags.config) {
      env.ARGO_STS_CONFIG_FILE = flags.config;
      delete env.ARGO_STS_CONFIG;
    }
    const config = loadNodeConfig(env);
    const port = Number(flags.port ?? env.PORT ?? 8787);
    const server = await startNodeServer({ config, env, host: flags.host ?? env.HOST ?? '127.0.0.1', port });
    io.stderr(`argo-sts: serving ${config.issuer} on ${server.url}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await server.close();
    return EXIT.ok;
  },
};
