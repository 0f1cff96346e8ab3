import { runServer } from '../../functions/node/start-server.ts';
import type { Command } from '../command.ts';
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
    return runServer({ env: io.env, configFile: flags.config, host: flags.host, port: flags.port, stderr: io.stderr });
  },
};
