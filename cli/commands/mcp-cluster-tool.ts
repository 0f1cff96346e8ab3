/**
 * The MCP tool `diagnose_cluster_token`: would a cluster's kube-apiserver authenticate the token,
 * as whom, and why not — the same diagnosis as `argo-sts diagnose --cluster`, for an agent. The
 * agent passes the AuthenticationConfiguration (or `--oidc-*` flags) as text; the token is the
 * MCP server's configured subject token or, with `token: "credential"`, the credential the broker
 * mints for the given request (an audited exchange, so a reason is required). No token is ever
 * returned; no file is read on the agent's word.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { parseAuthenticationConfig } from '../../shared/cluster/authentication-config.ts';
import { AUTH_CONFIG_LIMITS, AuthenticationConfigError } from '../../shared/cluster/kube-authn-model.ts';
import { diagnoseClusterToken } from '../../shared/cluster/diagnose-cluster.ts';
import { REQUEST_LIMITS } from '../../shared/exchange/token-request.ts';
import { nodeFetchFor } from '../cluster/node-fetch-for.ts';

export interface ClusterToolPorts {
  /** The configured subject token. */
  readonly subjectToken: () => Promise<string>;
  /** The credential the broker mints for this request (its access token). */
  readonly credential: (request: { audience?: string | undefined; namespace?: string | undefined; scopes?: string[] | undefined; reason: string }) => Promise<string>;
  readonly onError: (err: unknown) => { isError: boolean; content: { type: 'text'; text: string }[] };
}

export function registerClusterTool(server: McpServer, ports: ClusterToolPorts): void {
  server.registerTool('diagnose_cluster_token', {
    title: 'Diagnose a token against a cluster',
    description:
      "Evaluates a token the way a Kubernetes API server's JWT authenticators would, for its AuthenticationConfiguration " +
      '(apiserver.config.k8s.io/v1 or v1beta1, YAML or JSON, or a list of --oidc-* flags): issuer, discovery, signature, audience, ' +
      'expiry, not_before, claim_validation, claim_mapping, user_validation, each with status, message and a fix, and the user ' +
      '(username, groups, uid, extra) the cluster would see. token "subject" (default) checks the configured identity token; ' +
      '"credential" checks the credential the broker would mint for audience/namespace/scopes (an audited exchange: give a reason).',
    inputSchema: {
      authentication_config: z.string().min(1).max(AUTH_CONFIG_LIMITS.maxBytes).describe('the AuthenticationConfiguration document (or --oidc-* flags) as text'),
      token: z.enum(['subject', 'credential']).optional().describe('which token to check (default subject)'),
      audience: z.string().max(253).optional().describe('for token "credential": the target name'),
      namespace: z.string().max(63).optional().describe('for token "credential": the namespace'),
      scopes: z.array(z.string().max(100)).max(REQUEST_LIMITS.maxScopes).optional().describe('for token "credential": the scopes'),
      reason: z.string().trim().min(1).max(REQUEST_LIMITS.maxReasonChars).optional().describe('for token "credential": why (recorded in the audit event)'),
    },
    annotations: { readOnlyHint: true, openWorldHint: true },
  }, async (input) => {
    try {
      let config;
      try {
        config = parseAuthenticationConfig(input.authentication_config);
      } catch (err) {
        if (err instanceof AuthenticationConfigError) return { isError: true, content: [{ type: 'text' as const, text: `authentication_config: ${err.message}` }] };
        throw err;
      }
      let token: string;
      if (input.token === 'credential') {
        if (!input.reason) return { isError: true, content: [{ type: 'text' as const, text: 'token "credential" exchanges for a credential, which is audited: give a reason' }] };
        token = await ports.credential({ audience: input.audience, namespace: input.namespace, scopes: input.scopes, reason: input.reason });
      } else {
        token = await ports.subjectToken();
      }
      const diagnosis = await diagnoseClusterToken({
        token, config, now: Date.now(), fetchFor: nodeFetchFor,
      });
      const user = diagnosis.user ?? diagnosis.mapped_user;
      const lines = [
        `verdict: ${diagnosis.verdict}${diagnosis.authenticator ? ` (authenticator ${diagnosis.authenticator})` : ''}`,
        ...diagnosis.checks.map((c) => `${c.status.padEnd(4)} ${c.check}: ${c.message}${c.hint && c.status !== 'pass' ? ` (fix: ${c.hint})` : ''}`),
        user ? `${diagnosis.user ? 'user' : 'mapped user (not authenticated)'}: ${user.username}; groups: ${user.groups.join(', ') || '(none)'}` : 'user: none',
      ];
      return { content: [{ type: 'text' as const, text: lines.join('\n') }, { type: 'text' as const, text: JSON.stringify(diagnosis) }] };
    } catch (err) {
      return ports.onError(err);
    }
  });
}
