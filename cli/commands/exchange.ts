/**
 * `argo-sts exchange`: trade the identity token a job or person already has for a short-lived
 * Argo / Kubernetes credential, and print it in the shape the next tool reads.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cacheKey, type Credential, exchange, listTargets, StsRequestError, StsTransportError, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from '../../client/index.ts';
import { parseDuration } from '../../shared/config/duration.ts';
import { type CliIo, type Command, EXIT, UsageError } from '../command.ts';
import { ClientCredentialsToken, clientCredentialsFromFlags } from '../exchange/client-credentials.ts';
import { CredentialFileCache, cacheDirectory } from '../exchange/credential-file-cache.ts';
import { FORMATS, type Format, renderCredential } from '../exchange/render-credential.ts';
import { readNamedToken, resolveSubjectToken, shellWord, type TokenSource } from '../exchange/token-source.ts';
import { parseFlags } from '../flags.ts';

const TOKEN_TYPES: Record<string, string> = { id_token: TOKEN_TYPE_ID_TOKEN, access_token: TOKEN_TYPE_ACCESS_TOKEN, jwt: TOKEN_TYPE_JWT };

export const USER_AGENT = 'argo-sts-cli/0.1';

const FLAGS = {
  broker: 'string', audience: 'string', scope: 'strings', namespace: 'string', ttl: 'string', reason: 'string',
  'token-env': 'string', 'token-file': 'string', 'token-audience': 'string', 'token-type': 'string',
  'actor-token-env': 'string', 'actor-token-file': 'string', 'actor-token-type': 'string',
  'actor-token-endpoint': 'string', 'actor-client-id': 'string', 'actor-client-secret-env': 'string', 'actor-scope': 'string', 'actor-resource': 'string',
  format: 'string', json: 'boolean', output: 'string', 'argo-server': 'string', server: 'string',
  'certificate-authority': 'string', 'no-cache': 'boolean',
} as const;

export const exchangeCommand: Command = {
  name: 'exchange',
  summary: 'exchange a CI job\'s or person\'s identity token for a short-lived Argo/Kubernetes credential',
  help: `Usage: argo-sts exchange --broker URL [--audience TARGET] [--scope S]... [--namespace NS] [--ttl 10m]
                         [token source] [--format token|json|env|kubeconfig|exec-credential] [--output FILE]

Presents an identity token to the broker's POST /token (RFC 8693) and prints the credential.

Broker and request:
  --broker URL            the broker (default: $ARGO_STS_URL)
  --audience TARGET       the target name, e.g. argo-prod (may be omitted when the broker has one)
  --scope S               argo:read, argo:submit, argo:manage, k8s:view, k8s:edit; repeat or space-separate
                          (default: every scope the matching policy grants)
  --namespace NS          (may be omitted when the policy allows one namespace)
  --ttl DURATION          requested lifetime: seconds or 90s, 10m, 1h (the broker caps it)
  --reason TEXT           why the credential is needed; recorded in the broker's audit event

Token source (first that applies):
  --token-env NAME        a variable holding the token (GitLab CI: an id_tokens: variable)
  --token-file PATH       a file holding the token; "-" reads stdin
  (GitHub Actions)        with ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN set (the job
                          has "permissions: id-token: write"), the token is requested from GitHub
  $ARGO_STS_SUBJECT_TOKEN
  --token-audience AUD    the aud to request from GitHub Actions (default: argo-sts)
  --token-type T          id_token (default), access_token or jwt

Delegation (an agent acting for the subject; the credential carries both in "act"):
  --actor-token-env NAME, --actor-token-file PATH|-, --actor-token-type T (default access_token)
  --actor-token-endpoint URL --actor-client-id ID --actor-client-secret-env NAME [--actor-scope S]
  [--actor-resource URI]  fetch the agent's token with the client-credentials grant instead

Output (stdout, or --output FILE written with mode 0600):
  token (default)         the raw token
  --json, --format json   access_token, expires_in, expires_at, scope, namespace, argo_server
  --format env            ARGO_TOKEN="Bearer …", ARGO_SERVER (host:port), ARGO_SECURE, ARGO_HTTP1, ARGO_BASE_HREF,
                          ARGO_NAMESPACE — for eval, ". FILE", docker --env-file
  --format kubeconfig     a kubeconfig for --server URL [--certificate-authority PEM-FILE]
  --format exec-credential  a client.authentication.k8s.io/v1 ExecCredential for kubectl's exec plugin;
                          cached in $XDG_CACHE_HOME/argo-sts (or ~/.cache/argo-sts), mode 0600, and
                          reused until shortly before it expires (--no-cache to always exchange)
  --argo-server URL       the Argo Server for env/json (default: $ARGO_SERVER_URL, else the target's
                          argo_server from the broker's GET /targets)

Exit status: 0 issued; 1 refused or unreachable (the broker's error, its request_id and the
argo-sts diagnose command that explains it go to stderr); 2 usage error.

Examples:
  eval "$(argo-sts exchange --broker https://sts.example.com --audience argo-prod --scope argo:submit --format env)"
  argo-sts exchange --token-env ARGO_STS_ID_TOKEN --audience argo-prod --format env --output argo.env`,
  async run(args, io) {
    const flags = parseFlags(args, FLAGS);
    const broker = flags.broker ?? io.env.ARGO_STS_URL;
    if (!broker) throw new UsageError('--broker URL (or ARGO_STS_URL) is required');
    const format: Format = flags.json ? 'json' : ((flags.format ?? 'token') as Format);
    if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
    if (flags.json && flags.format && flags.format !== 'json') throw new UsageError('--json and --format disagree');
    if (format === 'kubeconfig' && !flags.server) throw new UsageError('--format kubeconfig needs --server URL (the Kubernetes API server)');
    let ttl: number | undefined;
    if (flags.ttl !== undefined) {
      ttl = parseDuration(flags.ttl);
      if (!ttl) throw new UsageError('--ttl must be a positive duration: seconds, or 90s, 10m, 1h');
    }
    const tokenType = tokenTypeFlag('--token-type', flags['token-type'], TOKEN_TYPE_ID_TOKEN);
    const actorTokenType = tokenTypeFlag('--actor-token-type', flags['actor-token-type'], TOKEN_TYPE_ACCESS_TOKEN);
    const scope = flags.scope?.join(' ').split(/\s+/).filter(Boolean);

    if (flags['token-file'] === '-' && flags['actor-token-file'] === '-') throw new UsageError('only one token can come from stdin');
    const sourceIo = { env: io.env, stdin: io.stdin };
    const subject = await resolveSubjectToken(
      { tokenEnv: flags['token-env'], tokenFile: flags['token-file'], tokenAudience: flags['token-audience'] ?? 'argo-sts' },
      sourceIo,
    );
    const clientCredentials = clientCredentialsFromFlags(flags, io.env);
    const named = await readNamedToken('actor', flags['actor-token-env'], flags['actor-token-file'], sourceIo);
    if (clientCredentials && named) throw new UsageError('give the agent\'s token either as --actor-token-env/--actor-token-file or through --actor-token-endpoint, not both');
    const actorToken = clientCredentials ? await new ClientCredentialsToken(clientCredentials).get() : named?.token;
    const request = {
      subjectToken: subject.token, subjectTokenType: tokenType, audience: flags.audience, scope, namespace: flags.namespace, ttl,
      actorToken, actorTokenType: actorToken ? actorTokenType : undefined, reason: flags.reason,
    };
    const clientOptions = { broker, userAgent: USER_AGENT };

    let credential: Credential;
    try {
      credential = format === 'exec-credential' && !flags['no-cache']
        ? await cachedExchange(io, broker, request)
        : await exchange(clientOptions, request);
    } catch (err) {
      const actor = actorToken ? { diagnoseSource: named?.diagnoseSource, tokenType: actorTokenType } : undefined;
      return reportFailure(err, io, { broker, audience: flags.audience, scope, namespace: flags.namespace, subject, actor });
    }

    let argoServer = flags['argo-server'] ?? io.env.ARGO_SERVER_URL;
    if (!argoServer && (format === 'env' || format === 'json')) argoServer = await targetArgoServer(clientOptions, flags.audience, io);
    const certificateAuthorityData = flags['certificate-authority']
      ? Buffer.from(await readFile(flags['certificate-authority'])).toString('base64')
      : undefined;
    const text = renderCredential(format, credential, { argoServer, server: flags.server, certificateAuthorityData, target: flags.audience ?? 'default' });
    if (flags.output) {
      await writeFile(flags.output, text, { mode: 0o600 });
      io.stderr(`argo-sts: wrote ${format} for ${credential.namespace} (${credential.scopes.join(' ')}, ${credential.expiresIn} s) to ${flags.output}\n`);
    } else {
      io.stdout(text);
    }
    return EXIT.ok;
  },
};

export function tokenTypeFlag(flag: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const type = TOKEN_TYPES[value] ?? (Object.values(TOKEN_TYPES).includes(value) ? value : undefined);
  if (!type) throw new UsageError(`${flag} must be one of ${Object.keys(TOKEN_TYPES).join(', ')}`);
  return type;
}

type ExchangeArgs = Parameters<typeof exchange>[1];

async function cachedExchange(io: CliIo, broker: string, request: ExchangeArgs): Promise<Credential> {
  const cache = new CredentialFileCache(cacheDirectory(io.env));
  const key = await cacheKey({
    broker, audience: request.audience, scope: request.scope, namespace: request.namespace, ttl: request.ttl,
    subject: await sha256(request.subjectToken), actor: request.actorToken ? await sha256(request.actorToken) : undefined,
  });
  const cached = await cache.read(key);
  if (cached) return cached;
  const fresh = await exchange({ broker, userAgent: USER_AGENT }, request);
  await cache.write(key, fresh);
  return fresh;
}

async function sha256(text: string): Promise<string> {
  return cacheKey({ token: text });
}

/** ARGO_SERVER for env/json when none was given: the target's argo_server as the broker lists it. */
async function targetArgoServer(options: { broker: string; userAgent: string }, audience: string | undefined, io: CliIo): Promise<string | undefined> {
  try {
    const targets = await listTargets(options);
    const target = audience ? targets.find((t) => t.name === audience) : targets.length === 1 ? targets[0] : undefined;
    if (target?.argo_server) return target.argo_server;
  } catch {
    // An older broker without GET /targets: say what is missing below.
  }
  io.stderr('argo-sts: the Argo Server is not known (no argo_server for this target); pass --argo-server URL or set ARGO_SERVER_URL\n');
  return undefined;
}

interface FailureContext {
  readonly broker: string;
  readonly audience: string | undefined;
  readonly scope: readonly string[] | undefined;
  readonly namespace: string | undefined;
  readonly subject: TokenSource;
  /** The agent's token, when the exchange was a delegation: diagnose must see it too. */
  readonly actor?: { readonly diagnoseSource: string | undefined; readonly tokenType: string } | undefined;
}

/** The broker's error, its request_id, and the diagnose command that explains it. */
export function reportFailure(err: unknown, io: CliIo, ctx: FailureContext): number {
  if (err instanceof StsRequestError) {
    io.stderr(`argo-sts exchange: refused by ${ctx.broker}: ${err.error}${err.check ? ` (check: ${err.check})` : ''}\n`);
    if (err.errorDescription) io.stderr(`  ${err.errorDescription}\n`);
    if (err.requestId) io.stderr(`  request_id: ${err.requestId}\n`);
    if (err.retryAfter) io.stderr(`  retry after ${err.retryAfter} s\n`);
    if (!err.retryable) io.stderr(`  explain it: ${diagnoseCommand(ctx)}\n`);
    return EXIT.failed;
  }
  if (err instanceof StsTransportError) {
    io.stderr(`argo-sts exchange: ${err.message}\n`);
    return EXIT.failed;
  }
  throw err;
}

export function diagnoseCommand(ctx: FailureContext): string {
  const words = ['argo-sts', 'diagnose', '--broker', ctx.broker];
  if (ctx.audience) words.push('--audience', ctx.audience);
  if (ctx.scope?.length) words.push('--scope', ctx.scope.join(' '));
  if (ctx.namespace) words.push('--namespace', ctx.namespace);
  let command = words.map(shellWord).join(' ');
  if (ctx.actor) {
    const type = Object.keys(TOKEN_TYPES).find((name) => TOKEN_TYPES[name] === ctx.actor!.tokenType) ?? ctx.actor.tokenType;
    command += ` ${ctx.actor.diagnoseSource ?? '--actor-token-file AGENT_TOKEN_FILE'} --actor-token-type ${shellWord(type)}`;
  }
  const notes: string[] = [];
  if (ctx.actor && !ctx.actor.diagnoseSource) notes.push("the agent's token in AGENT_TOKEN_FILE");
  const source = ctx.subject.diagnoseSource;
  if (source) command += ` ${source}`;
  else {
    command += ' -';
    notes.push('the same token on stdin');
  }
  return notes.length > 0 ? `${command}   (with ${notes.join(', and ')})` : command;
}

/** `argo-sts kubectl credential`: the exec-credential form of exchange, named for kubeconfigs. */
export const kubectlCredentialCommand: Command = {
  name: 'kubectl credential',
  summary: 'kubectl exec credential plugin: argo-sts exchange --format exec-credential, cached until near expiry',
  help: `Usage: argo-sts kubectl credential --broker URL [--audience TARGET] [--namespace NS] [--scope S]... [token source]

The same as "argo-sts exchange --format exec-credential" (see argo-sts exchange --help for every
flag): prints a client.authentication.k8s.io/v1 ExecCredential and keeps it in
$XDG_CACHE_HOME/argo-sts (0600) until shortly before it expires. In a kubeconfig:

  users:
    - name: argo-sts
      user:
        exec:
          apiVersion: client.authentication.k8s.io/v1
          interactiveMode: Never
          command: argo-sts
          args: [kubectl, credential, --broker, https://sts.example.com, --audience, argo-prod,
                 --namespace, dev, --token-file, /home/me/.cache/oidc/id_token]`,
  async run(args, io) {
    if (args.some((a) => a === '--format' || a.startsWith('--format=') || a === '--json')) {
      throw new UsageError('kubectl credential always prints an ExecCredential; use argo-sts exchange for other formats');
    }
    return exchangeCommand.run([...args, '--format', 'exec-credential'], io);
  },
};
