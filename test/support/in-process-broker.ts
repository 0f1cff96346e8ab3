/**
 * argo-sts started inside the test process (functions/node.ts), as the CLI and MCP suites talk
 * to it: a free loopback port, no env, no warnings on stderr, and every audit line it writes
 * parsed into `auditLines` for the test to read.
 */
import { type NodeServer, startNodeServer } from '../../functions/node.ts';
import { parseConfigText } from '../../shared/config.ts';

export function startInProcessBroker(configYaml: string, auditLines: Record<string, unknown>[]): Promise<NodeServer> {
  const config = parseConfigText(configYaml);
  return startNodeServer({ config, port: 0, env: {}, writeLine: (line) => auditLines.push(JSON.parse(line)), warn: () => {} });
}
