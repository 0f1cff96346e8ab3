/**
 * `argo-sts mcp`: a Model Context Protocol server on stdio, so an AI agent gets scoped, short-lived
 * Argo credentials the way it gets every other tool. The operator starts it with the tokens the
 * agent may present — the person's or pipeline's token as subject, the agent's own token as
 * actor — and the agent calls `request_argo_credentials` with a target, namespace, scopes, a ttl
 * and a reason, which lands in the broker's audit event. Tokens are read per call, so a file
 * refreshed by a sidecar is picked up; nothing is cached, so every grant is audited.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { type ClientOptions, diagnose, exchange, type ExchangeRequest, listTargets, StsRequestError, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN } from '../../client/index.ts';
import { REQUEST_LIMITS } from '../../shared/exchange/token-request.ts';
import { type CliIo, type Command, EXIT, UsageError } from '../command.ts';
import { ClientCredentialsToken, clientCredentialsFromFlags } from '../exchange/client-credentials.ts';
import { readNamedToken, resolveSubjectToken } from '../exchange/token-source.ts';
import { parseFlags } from '../flags.ts';
import { argoServerVariables } from '../exchange/render-credential.ts';
import { packageVersion } from '../version.ts';
import { registerClusterTool } from './mcp-cluster-tool.ts';

/** The package's version, reported to MCP clients and in the broker's audit events (user_agent). */
const VERSION = packageVersion();

export const mcpCommand: Command = {
  name: 'mcp',
  summary: 'serve request_argo_credentials, diagnose_token and diagnose_cluster_token to an AI agent (Model Context Protocol, stdio)',
  help: `Usage: argo-sts mcp --broker URL [subject token source] [--actor-token-env NAME | --actor-token-file PATH]

A Model Context Protocol server on stdin/stdout for agent frameworks. Tools:
  request_argo_credentials  audience, namespace, ttl (seconds), required scopes and reason; returns a
                            short-lived Argo/Kubernetes token (ARGO_TOKEN, ARGO_SERVER, ARGO_NAMESPACE).
                            The reason is recorded in the broker's audit event.
  diagnose_token            the broker's /diagnose checks for the same request (why it is refused)
  diagnose_cluster_token    would a cluster's kube-apiserver authenticate the subject token (or the credential
                            the broker mints), for its AuthenticationConfiguration given as text; as whom, why not

  --broker URL              the broker (default: $ARGO_STS_URL)
  --token-env NAME | --token-file PATH
                            the subject: the person's or pipeline's token (GitHub Actions and
                            $ARGO_STS_SUBJECT_TOKEN are detected as for argo-sts exchange)
  --token-type T            id_token (default), access_token or jwt
  --actor-token-env NAME | --actor-token-file PATH
                            the agent's own token (e.g. Keycloak/Entra client credentials); the issued
                            credential then carries "act", and the broker's policy must allow the agent
  --actor-token-type T      access_token (default), id_token or jwt
  --actor-token-endpoint URL --actor-client-id ID --actor-client-secret-env NAME [--actor-scope S] [--actor-resource URI]
                            or let argo-sts fetch the agent's token itself with the client-credentials
                            grant (Keycloak: <realm>/protocol/openid-connect/token; Entra:
                            .../oauth2/v2.0/token with --actor-scope <api>/.default); reused until near expiry
  --argo-server URL         the Argo Server to report (default: the target's argo_server from GET /targets)
Tokens are re-read on every call. stdout carries the protocol only; messages go to stderr.

Example client configuration (argo-sts installed, e.g. npm install -g ./argo-sts-<version>.tgz):
  {"command": "argo-sts", "args": ["mcp", "--broker", "https://sts.example.com",
   "--token-file", "/run/secrets/user-token", "--actor-token-file", "/run/secrets/agent-token"]}`,
  async run(args, io) {
    const flags = parseFlags(args, {
      broker: 'string', 'token-env': 'string', 'token-file': 'string', 'token-type': 'string', 'token-audience': 'string',
      'actor-token-env': 'string', 'actor-token-file': 'string', 'actor-token-type': 'string', 'argo-server': 'string',
      'actor-token-endpoint': 'string', 'actor-client-id': 'string', 'actor-client-secret-env': 'string', 'actor-scope': 'string', 'actor-resource': 'string',
    });
    const broker = flags.broker ?? io.env.ARGO_STS_URL;
    if (!broker) throw new UsageError('--broker URL (or ARGO_STS_URL) is required');
    if (flags['token-file'] === '-' || flags['actor-token-file'] === '-') throw new UsageError('stdin carries the protocol; read tokens from a file or a variable');
    const clientCredentials = clientCredentialsFromFlags(flags, io.env);
    if (clientCredentials && (flags['actor-token-env'] !== undefined || flags['actor-token-file'] !== undefined)) {
      throw new UsageError('give the agent\'s token either as --actor-token-env/--actor-token-file or through --actor-token-endpoint, not both');
    }
    const actorType = tokenType(flags['actor-token-type'], TOKEN_TYPE_ACCESS_TOKEN);
    const server = createMcpServer({
      client: { broker, userAgent: `argo-sts-mcp/${VERSION}` },
      io,
      subject: {
        tokenEnv: flags['token-env'], tokenFile: flags['token-file'], tokenAudience: flags['token-audience'] ?? 'argo-sts',
        tokenType: tokenType(flags['token-type'], TOKEN_TYPE_ID_TOKEN),
      },
      actor: clientCredentials
        ? { clientCredentials: new ClientCredentialsToken(clientCredentials), tokenType: actorType }
        : flags['actor-token-env'] !== undefined || flags['actor-token-file'] !== undefined
          ? { tokenEnv: flags['actor-token-env'], tokenFile: flags['actor-token-file'], tokenType: actorType }
          : undefined,
      argoServer: flags['argo-server'],
    });
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => {
      transport.onclose = resolve;
      process.stdin.once('end', () => void server.close());
    });
    await server.connect(transport);
    io.stderr(`argo-sts mcp: serving tools for ${broker} on stdio\n`);
    await closed;
    return EXIT.ok;
  },
};

function tokenType(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const types: Record<string, string> = { id_token: TOKEN_TYPE_ID_TOKEN, access_token: TOKEN_TYPE_ACCESS_TOKEN, jwt: 'urn:ietf:params:oauth:token-type:jwt' };
  if (!types[value]) throw new UsageError(`token type must be one of ${Object.keys(types).join(', ')}`);
  return types[value];
}

export interface McpOptions {
  readonly client: ClientOptions;
  readonly io: Pick<CliIo, 'env' | 'stdin'>;
  readonly subject: { tokenEnv?: string | undefined; tokenFile?: string | undefined; tokenAudience: string; tokenType: string };
  readonly actor:
    | { tokenEnv?: string | undefined; tokenFile?: string | undefined; tokenType: string }
    | { clientCredentials: ClientCredentialsToken; tokenType: string }
    | undefined;
  readonly argoServer: string | undefined;
}

const SCOPE_LIST = z.array(z.string().max(100)).max(REQUEST_LIMITS.maxScopes);
const SCOPE_NAMES = 'argo:read, argo:submit, argo:manage, k8s:view, k8s:edit';

const requestShape = {
  audience: z.string().max(253).optional().describe('the target name, e.g. argo-prod; may be omitted when the broker has one target'),
  namespace: z.string().max(63).optional().describe('the Kubernetes namespace; may be omitted when the policy allows one'),
  scopes: SCOPE_LIST.optional().describe(`${SCOPE_NAMES}; omitted = every scope the policy grants`),
};

/**
 * Credentials are requested with explicit scopes: left out, /token grants every scope of the
 * policy, which is the most an agent could get, not the least it needs.
 */
const credentialScopes = SCOPE_LIST.min(1, 'name the scopes you need (at least one)')
  .describe(`required: the least you need, e.g. ["argo:read"] (${SCOPE_NAMES})`);

/**
 * authorization_pending is not a failure: the agent's user must ask an approver to open the link.
 * The tool says so, with the link and the approval_id to call again with once it is approved.
 */
function approvalPending(err: StsRequestError) {
  const approval = err.approval!;
  const result = {
    status: 'authorization_pending',
    approval_id: approval.id,
    approval_uri: approval.uri,
    interval: approval.interval,
    expires_in: approval.expiresIn,
    next: `Tell the user: this request needs approval. An approver named by the broker's policy must open ${approval.uri} ` +
      `(or run: argo-sts approve ${approval.id}). Then call request_argo_credentials again with the same arguments and approval_id "${approval.id}", ` +
      `at most every ${approval.interval} s, within ${approval.expiresIn} s.`,
  };
  return { content: [{ type: 'text' as const, text: JSON.stringify(result, null, 2) }] };
}

function toolError(err: unknown) {
  if (err instanceof StsRequestError && err.approval) return approvalPending(err);
  if (err instanceof StsRequestError) {
    const lines = [
      `refused: ${err.error}${err.check ? ` (check: ${err.check})` : ''}`,
      err.errorDescription ?? '',
      err.requestId ? `request_id: ${err.requestId}` : '',
      err.retryable ? `retry later${err.retryAfter ? ` (after ${err.retryAfter} s)` : ''}` : 'call diagnose_token with the same arguments to see every check',
    ];
    return { isError: true, content: [{ type: 'text' as const, text: lines.filter(Boolean).join('\n') }] };
  }
  return { isError: true, content: [{ type: 'text' as const, text: err instanceof Error ? err.message : 'failed' }] };
}

export function createMcpServer(options: McpOptions): McpServer {
  const server = new McpServer({ name: 'argo-sts', version: VERSION });

  async function baseRequest(input: { audience?: string | undefined; namespace?: string | undefined; scopes?: string[] | undefined }): Promise<ExchangeRequest> {
    const subject = await resolveSubjectToken(options.subject, options.io);
    const actor = options.actor;
    const actorToken = !actor
      ? undefined
      : 'clientCredentials' in actor
        ? await actor.clientCredentials.get()
        : (await readNamedToken('actor', actor.tokenEnv, actor.tokenFile, options.io))?.token;
    return {
      subjectToken: subject.token,
      subjectTokenType: options.subject.tokenType,
      actorToken,
      actorTokenType: actorToken ? actor!.tokenType : undefined,
      audience: input.audience,
      namespace: input.namespace,
      scope: input.scopes,
    };
  }

  async function argoServerFor(audience: string | undefined): Promise<string | undefined> {
    if (options.argoServer) return options.argoServer;
    const targets = await listTargets(options.client).catch(() => []);
    return (audience ? targets.find((t) => t.name === audience) : targets.length === 1 ? targets[0] : undefined)?.argo_server;
  }

  server.registerTool('request_argo_credentials', {
    title: 'Request Argo Workflows credentials',
    description:
      'Exchanges the configured identity for a short-lived, scope-limited Argo Workflows / Kubernetes bearer token. ' +
      'Use it with Argo Server as ARGO_TOKEN (already prefixed "Bearer ") and ARGO_SERVER, or as a Kubernetes bearer token. ' +
      'The reason is recorded in the audit trail: say concretely what you will do and for whom.',
    inputSchema: {
      ...requestShape,
      scopes: credentialScopes,
      ttl: z.number().int().positive().max(86_400).optional().describe('lifetime in seconds; the broker caps it (default: its policy default)'),
      reason: z.string().trim().min(1).max(REQUEST_LIMITS.maxReasonChars).describe('why the credential is needed (recorded in the audit event)'),
      approval_id: z.string().regex(/^[0-9a-f-]{36}$/).optional()
        .describe('after an authorization_pending answer: the approval_id it gave, once an approver has approved (same other arguments)'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, async (input) => {
    try {
      const request = { ...(await baseRequest(input)), ttl: input.ttl, reason: input.reason, approvalId: input.approval_id };
      const credential = await exchange(options.client, request);
      const argoServer = await argoServerFor(input.audience);
      const result = {
        access_token: credential.accessToken,
        token_type: credential.tokenType,
        expires_in: credential.expiresIn,
        expires_at: new Date(credential.expiresAt).toISOString(),
        scope: credential.scopes.join(' '),
        namespace: credential.namespace,
        ...(argoServer ? { argo_server: argoServer } : {}),
        env: {
          ARGO_TOKEN: `Bearer ${credential.accessToken}`,
          ...(argoServer ? argoServerVariables(argoServer) : {}),
          ARGO_NAMESPACE: credential.namespace,
        },
      };
      return { content: [{ type: 'text' as const, text: JSON.stringify(result, null, 2) }] };
    } catch (err) {
      return toolError(err);
    }
  });

  server.registerTool('diagnose_token', {
    title: 'Diagnose a token exchange',
    description:
      'Asks the broker why a credential request would be refused: every check (format, issuer, signature, audience, ' +
      'expiry, not_before, issued_at, policy, target, namespace, scope) with its status, message and hint. Never issues.',
    inputSchema: requestShape,
    annotations: { readOnlyHint: true, openWorldHint: true },
  }, async (input) => {
    try {
      const diagnosis = await diagnose(options.client, await baseRequest(input));
      const summary = diagnosis.checks.map((c) => `${c.status.padEnd(4)} ${c.check}: ${c.message}${c.hint ? ` (hint: ${c.hint})` : ''}`);
      return {
        content: [
          { type: 'text' as const, text: `verdict: ${diagnosis.verdict} (request_id ${diagnosis.request_id})\n${summary.join('\n')}` },
          { type: 'text' as const, text: JSON.stringify(diagnosis) },
        ],
      };
    } catch (err) {
      return toolError(err);
    }
  });

  registerClusterTool(server, {
    subjectToken: async () => (await resolveSubjectToken(options.subject, options.io)).token,
    credential: async (request) => (await exchange(options.client, { ...(await baseRequest(request)), reason: request.reason })).accessToken,
    // The cluster tool reports every failure as an error, a pending approval included.
    onError: (err) => ({ isError: true, content: toolError(err).content }),
  });

  return server;
}
