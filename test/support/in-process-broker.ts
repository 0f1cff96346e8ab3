/**
 * argo-sts started inside the test process (functions/node.ts), as the CLI and MCP suites talk
 * to it: a free loopback port, no env, no warnings on stderr, and every audit line it writes
 * parsed into `auditLines` for the test to read.
 */
import { type NodeServer, startNodeServer } from '../../functions/node/start-server.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';

export function startInProcessBroker(configYaml: string, auditLines: Record<string, unknown>[]): Promise<NodeServer> {
  const config = parseConfigText(configYaml);
  return startNodeServer({ config, port: 0, env: {}, writeLine: (line) => auditLines.push(JSON.parse(line)), warn: () => {} });
}

/** One GitHub IdP, one Kubernetes target, `ci-view` for main of acme/app: the smallest broker. */
export function githubViewConfig(githubIssuer: string): string {
  return `
issuer: http://127.0.0.1/sts
signing: { alg: ES256, keys: generate }
idps:
  - { name: github, issuer: ${githubIssuer}, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: ci-view, idp: github, target: argo-prod, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [k8s:view] }
`;
}
