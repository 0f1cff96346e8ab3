/**
 * Where `argo-sts exchange` gets the identity token it presents: explicitly from an environment
 * variable (GitLab CI `id_tokens:`), a file or stdin; or, when nothing is named, from the CI
 * system it runs in (GitHub Actions' OIDC token endpoint). The token itself is never printed.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../command.ts';

/** What the CLI says about the token's origin, and how to present the same token to `argo-sts diagnose`. */
export interface TokenSource {
  readonly token: string;
  /** e.g. "GitHub Actions OIDC token (audience argo-sts)", "$GITLAB_OIDC_TOKEN", "file /run/token". */
  readonly description: string;
  /** How `argo-sts diagnose` reads the same token (`--token-env NAME`, `- < FILE`), when it can. */
  readonly diagnoseSource: string | undefined;
}

export const TOKEN_SOURCE_LIMITS = {
  /** The broker refuses subject tokens over 16 KiB; reading more than this is pointless. */
  maxTokenBytes: 64 * 1024,
  /** GitHub's token endpoint answers in well under a second. */
  githubTimeoutMs: 15_000,
} as const;

export interface SourceFlags {
  readonly tokenEnv?: string | undefined;
  readonly tokenFile?: string | undefined;
  /** The `aud` to ask GitHub Actions for (the broker's idps[].audiences). */
  readonly tokenAudience: string;
}

export interface SourceIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: () => Promise<string>;
  readonly fetch?: typeof fetch;
}

function cleaned(raw: string, from: string): string {
  const token = raw.trim();
  if (token === '') throw new UsageError(`${from} is empty`);
  if (token.length > TOKEN_SOURCE_LIMITS.maxTokenBytes) throw new UsageError(`${from} is larger than ${TOKEN_SOURCE_LIMITS.maxTokenBytes} bytes; it is not an identity token`);
  if (/\s/.test(token)) throw new UsageError(`${from} holds more than one word; it should hold the token only`);
  return token;
}

/** Reads a token from `--x-env NAME` or `--x-file PATH|-`. */
export async function readNamedToken(kind: 'subject' | 'actor', envName: string | undefined, file: string | undefined, io: SourceIo): Promise<TokenSource | undefined> {
  const flag = kind === 'subject' ? '--token' : '--actor-token';
  if (envName !== undefined && file !== undefined) throw new UsageError(`give either ${flag}-env or ${flag}-file, not both`);
  if (envName !== undefined) {
    const value = io.env[envName];
    if (value === undefined) throw new UsageError(`${flag}-env ${envName}: the variable is not set`);
    return { token: cleaned(value, `$${envName}`), description: `$${envName}`, diagnoseSource: `${flag}-env ${shellWord(envName)}` };
  }
  if (file === '-') return { token: cleaned(await io.stdin(), 'stdin'), description: 'stdin', diagnoseSource: undefined };
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`${flag}-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot be read'}`);
    }
    // The subject reaches diagnose on stdin; the actor by its file (only one token can be stdin).
    const diagnoseSource = kind === 'subject' ? `- < ${shellWord(file)}` : `--actor-token-file ${shellWord(file)}`;
    return { token: cleaned(text, `${flag}-file ${file}`), description: `file ${file}`, diagnoseSource };
  }
  return undefined;
}

/**
 * GitHub Actions: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with
 * `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the answer is {"value": "<jwt>"}.
 * The job needs `permissions: id-token: write` for these variables to exist.
 */
export async function fetchGithubActionsToken(io: SourceIo, audience: string): Promise<TokenSource> {
  const requestUrl = io.env.ACTIONS_ID_TOKEN_REQUEST_URL!;
  const requestToken = io.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN!;
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    throw new UsageError('ACTIONS_ID_TOKEN_REQUEST_URL is not a URL');
  }
  url.searchParams.set('audience', audience);
  const doFetch = io.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      headers: { authorization: `bearer ${requestToken}`, accept: 'application/json; api-version=2.0' },
      signal: AbortSignal.timeout(TOKEN_SOURCE_LIMITS.githubTimeoutMs),
    });
  } catch {
    throw new Error(`could not reach GitHub's OIDC token endpoint (${url.origin})`);
  }
  if (!response.ok) {
    throw new Error(`GitHub's OIDC token endpoint answered HTTP ${response.status}; does the job have "permissions: id-token: write"?`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const value = (body as { value?: unknown } | undefined)?.value;
  if (typeof value !== 'string' || value === '') throw new Error("GitHub's OIDC token endpoint answered without a token in \"value\"");
  return { token: cleaned(value, "GitHub's OIDC token"), description: `GitHub Actions OIDC token (audience ${audience})`, diagnoseSource: undefined };
}

/** The subject token: named explicitly, else detected from the environment. */
export async function resolveSubjectToken(flags: SourceFlags, io: SourceIo): Promise<TokenSource> {
  const named = await readNamedToken('subject', flags.tokenEnv, flags.tokenFile, io);
  if (named) return named;
  if (io.env.ACTIONS_ID_TOKEN_REQUEST_URL && io.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) return fetchGithubActionsToken(io, flags.tokenAudience);
  if (io.env.ARGO_STS_SUBJECT_TOKEN) return readNamedToken('subject', 'ARGO_STS_SUBJECT_TOKEN', undefined, io) as Promise<TokenSource>;
  throw new UsageError(
    'no identity token: name one with --token-env NAME (GitLab CI id_tokens), --token-file PATH or --token-file - (stdin), ' +
      'set ARGO_STS_SUBJECT_TOKEN, or run in GitHub Actions with "permissions: id-token: write"',
  );
}

/** Quotes a word for POSIX sh when it needs quoting. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
