/**
 * The agent's own token, fetched by argo-sts itself: the OAuth 2.0 client-credentials grant
 * (RFC 6749 §4.4) at the agent's identity provider — Keycloak
 * (`<realm>/protocol/openid-connect/token`) or Entra ID (`/<tenant>/oauth2/v2.0/token`, with
 * `scope=<api>/.default`). The client authenticates with HTTP Basic (client_secret_basic), which
 * both accept. The token is reused until shortly before `expires_in` runs out.
 */
import { UsageError } from '../command.ts';

export const CLIENT_CREDENTIALS_LIMITS = {
  timeoutMs: 15_000,
  /** Fetch a new token this long before the old one expires. */
  refreshBeforeSeconds: 30,
} as const;

export interface ClientCredentialsConfig {
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Space-separated; Entra needs `<application id URI>/.default`. */
  readonly scope?: string | undefined;
  /** RFC 8707 resource indicator, for providers that take one. */
  readonly resource?: string | undefined;
}

/** Reads the client-credentials flags; the secret only ever comes from a variable. */
export function clientCredentialsFromFlags(
  flags: { 'actor-token-endpoint'?: string | undefined; 'actor-client-id'?: string | undefined; 'actor-client-secret-env'?: string | undefined; 'actor-scope'?: string | undefined; 'actor-resource'?: string | undefined },
  env: NodeJS.ProcessEnv,
): ClientCredentialsConfig | undefined {
  const endpoint = flags['actor-token-endpoint'];
  if (endpoint === undefined) {
    if (flags['actor-client-id'] || flags['actor-client-secret-env']) throw new UsageError('--actor-client-id and --actor-client-secret-env need --actor-token-endpoint');
    return undefined;
  }
  const clientId = flags['actor-client-id'];
  const secretEnv = flags['actor-client-secret-env'];
  if (!clientId || !secretEnv) throw new UsageError('--actor-token-endpoint needs --actor-client-id and --actor-client-secret-env NAME');
  const clientSecret = env[secretEnv];
  if (!clientSecret) throw new UsageError(`--actor-client-secret-env ${secretEnv}: the variable is not set`);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError('--actor-token-endpoint is not a URL');
  }
  if (url.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) {
    throw new UsageError('--actor-token-endpoint must be https (http only on loopback): the client secret travels to it');
  }
  return { tokenEndpoint: url.href, clientId, clientSecret, scope: flags['actor-scope'], resource: flags['actor-resource'] };
}

export class ClientCredentialsToken {
  readonly #config: ClientCredentialsConfig;
  readonly #clock: () => number;
  #cached: { token: string; refreshAt: number } | undefined;

  constructor(config: ClientCredentialsConfig, clock: () => number = Date.now) {
    this.#config = config;
    this.#clock = clock;
  }

  async get(): Promise<string> {
    if (this.#cached && this.#clock() < this.#cached.refreshAt) return this.#cached.token;
    const { tokenEndpoint, clientId, clientSecret, scope, resource } = this.#config;
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) body.set('scope', scope);
    if (resource) body.set('resource', resource);
    const basic = btoa(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`);
    const where = new URL(tokenEndpoint).origin;
    let response: Response;
    try {
      response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        signal: AbortSignal.timeout(CLIENT_CREDENTIALS_LIMITS.timeoutMs),
      });
    } catch {
      throw new Error(`the agent's token endpoint (${where}) could not be reached`);
    }
    const answer = (await response.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown };
    if (!response.ok || typeof answer.access_token !== 'string' || answer.access_token === '') {
      const error = typeof answer.error === 'string' ? `: ${answer.error}${typeof answer.error_description === 'string' ? ` (${answer.error_description.slice(0, 200)})` : ''}` : '';
      throw new Error(`the agent's token endpoint (${where}) refused the client credentials of "${clientId}": HTTP ${response.status}${error}`);
    }
    const lifetime = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 60;
    const early = Math.min(CLIENT_CREDENTIALS_LIMITS.refreshBeforeSeconds, lifetime / 2);
    this.#cached = { token: answer.access_token, refreshAt: this.#clock() + (lifetime - early) * 1000 };
    return answer.access_token;
  }
}
