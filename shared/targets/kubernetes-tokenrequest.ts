/**
 * `kubernetes-tokenrequest`: a ServiceAccount token from the cluster's TokenRequest API.
 *
 * The broker holds a narrow credential (allowed only `create` on `serviceaccounts/token` for the
 * named ServiceAccounts) and calls
 *   POST {api_server}/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token
 * with an authentication.k8s.io/v1 TokenRequest (`audiences`, `expirationSeconds`). The API
 * server may shorten the lifetime, so the lifetime reported is the one in
 * `status.expirationTimestamp`. Kubernetes refuses lifetimes under 600 s; config.ts refuses such
 * TTLs for these targets at load, and a shorter requested_ttl is raised to 600 s here.
 *
 * Split as request building / response processing so each is testable on its own.
 */
import { decodeJwt } from 'jose';
import type { TargetConfig } from '../config/schema.ts';
import { StsError } from '../errors.ts';
import { type FetchLike, readCapped } from '../http/fetch-capped.ts';
import { LIMITS } from '../config/schema.ts';
import { type IssuedCredential, misconfigured, type TargetIssuer } from './issue-credential.ts';

type TokenRequestTarget = Extract<TargetConfig, { kind: 'kubernetes-tokenrequest' }>;

/** A hung API server must not hold the client; a TokenRequest answer is well under 64 KiB. */
export const TOKENREQUEST_LIMITS = { timeoutMs: 5_000, maxResponseBytes: 64 * 1024 } as const;

export interface TokenRequestConnection {
  /** fetch that trusts the cluster's CA (Node with `ca:`), else the runtime's fetch. */
  readonly fetch: FetchLike;
  /** The broker's own bearer token for this cluster, as resolved at start-up. */
  readonly bearerToken: string;
  /** Resolves the credentials reference again (after a 401: the token may have been rotated). */
  readonly reloadBearerToken?: (() => Promise<string>) | undefined;
}

/** After a 401, the credentials are re-read at most this often per target. */
export const CREDENTIAL_RELOAD_COOLDOWN_SECONDS = 30;

export function buildTokenRequest(target: TokenRequestTarget, input: { namespace: string; serviceAccount: string; ttl: number; bearerToken: string }): { url: string; init: RequestInit } {
  const base = target.api_server.replace(/\/+$/, '');
  const url = `${base}/api/v1/namespaces/${encodeURIComponent(input.namespace)}/serviceaccounts/${encodeURIComponent(input.serviceAccount)}/token`;
  const body = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: target.audiences ?? [],
      expirationSeconds: Math.max(input.ttl, LIMITS.minTokenRequestSeconds),
    },
  };
  return {
    url,
    init: {
      method: 'POST',
      headers: { authorization: `Bearer ${input.bearerToken}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(TOKENREQUEST_LIMITS.timeoutMs),
    },
  };
}

interface Context {
  readonly target: TokenRequestTarget;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Seconds since the epoch. */
  readonly now: number;
  readonly warn: (message: string) => void;
}

/** Turns the API server's answer into a credential or a clear refusal. */
export async function processTokenRequestResponse(response: Response, ctx: Context): Promise<IssuedCredential> {
  const where = `${ctx.namespace}/${ctx.serviceAccount}`;
  let text: string;
  try {
    text = await readCapped(response, TOKENREQUEST_LIMITS.maxResponseBytes, 'TokenRequest');
  } catch (err) {
    throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the cluster answered the token request with an oversized response', { cause: err });
  }
  const status = response.status;
  if (status === 200 || status === 201) {
    let doc: { status?: { token?: unknown; expirationTimestamp?: unknown } };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the cluster answered the token request with something that is not JSON');
    }
    const token = doc?.status?.token;
    const expiry = typeof doc?.status?.expirationTimestamp === 'string' ? Date.parse(doc.status.expirationTimestamp) : Number.NaN;
    if (typeof token !== 'string' || token === '' || Number.isNaN(expiry)) {
      throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the cluster answered the token request without a token or expiry');
    }
    const expiresIn = Math.floor(expiry / 1000) - ctx.now;
    if (expiresIn <= 0) throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the cluster issued a token that has already expired (check its clock)');
    return { token, expiresIn, jti: tokenJti(token) };
  }
  const reason = statusReason(text);
  switch (status) {
    case 401:
      throw misconfigured(ctx.warn, ctx.target, `the API server rejected the broker's credential (401 ${reason}); rotate the token behind "credentials"`);
    case 403:
      throw misconfigured(ctx.warn, ctx.target, `the broker may not create serviceaccounts/token for ${where} (403 ${reason}); apply the Role that \`argo-sts render\` writes`);
    case 404:
      throw misconfigured(ctx.warn, ctx.target, `ServiceAccount ${where} does not exist (404 ${reason}); apply the ServiceAccounts that \`argo-sts render\` writes`);
    case 400:
    case 422:
      throw misconfigured(ctx.warn, ctx.target, `the API server refused the TokenRequest for ${where} (${status} ${reason})`);
    case 429: {
      const retry = Number(response.headers.get('retry-after'));
      throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the cluster is throttling token requests; try again later', {
        retryAfter: Number.isFinite(retry) && retry > 0 ? retry : 1,
      });
    }
    default:
      ctx.warn(`argo-sts: target "${ctx.target.name}": TokenRequest for ${where} answered ${status} ${reason}`);
      throw new StsError('ERR_UPSTREAM_UNAVAILABLE', `the cluster could not issue a token (HTTP ${status}); try again later`);
  }
}

/**
 * The `jti` of a ServiceAccount token (Kubernetes 1.29+ sets one and logs it as the credential id
 * in its audit events), read without verification: it only labels the audit record.
 */
function tokenJti(token: string): string | undefined {
  try {
    const jti = (decodeJwt(token) as { jti?: unknown }).jti;
    return typeof jti === 'string' && jti.length <= 128 ? jti : undefined;
  } catch {
    return undefined;
  }
}

/** The `reason` of a Kubernetes Status object, for operator logs (never a token). */
function statusReason(text: string): string {
  try {
    const doc = JSON.parse(text) as { reason?: unknown };
    return typeof doc.reason === 'string' ? doc.reason : '';
  } catch {
    return '';
  }
}

export function kubernetesTokenRequestIssuer(
  connections: ReadonlyMap<string, TokenRequestConnection>,
  warn: (message: string) => void,
): TargetIssuer {
  /** Per target: the bearer token in use and when it was last re-read (resolved values only). */
  const tokens = new Map<string, { value: string; reloadedAt: number }>();

  async function send(target: TokenRequestTarget, connection: TokenRequestConnection, bearerToken: string, input: { namespace: string; serviceAccount: string; ttl: number }): Promise<Response> {
    const { url, init } = buildTokenRequest(target, { ...input, bearerToken });
    try {
      return await connection.fetch(url, init);
    } catch (err) {
      warn(`argo-sts: target "${target.name}": the API server is unreachable: ${err instanceof Error ? err.name : 'error'}`);
      throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the cluster cannot be reached; try again later', { cause: err });
    }
  }

  return {
    async issue(request) {
      const { target } = request;
      if (target.kind !== 'kubernetes-tokenrequest') throw new TypeError(`tokenrequest issuer given a ${target.kind} target`);
      const connection = connections.get(target.name);
      const serviceAccount = request.policy.service_account;
      if (!connection || !serviceAccount) throw new TypeError(`target ${target.name}: no connection or service_account (config.ts guarantees both)`);
      const input = { namespace: request.namespace, serviceAccount, ttl: request.ttl };
      const current = tokens.get(target.name) ?? { value: connection.bearerToken, reloadedAt: Number.NEGATIVE_INFINITY };
      let response = await send(target, connection, current.value, input);
      // A rotated broker credential: re-read the reference once (rate-limited) and retry with it.
      if (response.status === 401 && connection.reloadBearerToken && request.now - current.reloadedAt >= CREDENTIAL_RELOAD_COOLDOWN_SECONDS) {
        let reloaded: string | undefined;
        try {
          reloaded = await connection.reloadBearerToken();
        } catch (err) {
          warn(`argo-sts: target "${target.name}": re-reading credentials after a 401 failed: ${err instanceof Error ? err.message : 'error'}`);
        }
        tokens.set(target.name, { value: reloaded ?? current.value, reloadedAt: request.now });
        if (reloaded !== undefined && reloaded !== current.value) {
          await response.body?.cancel().catch(() => {});
          warn(`argo-sts: target "${target.name}": the API server refused the broker's credential; retrying with the re-read one`);
          response = await send(target, connection, reloaded, input);
        }
      }
      return processTokenRequestResponse(response, { target, namespace: request.namespace, serviceAccount, now: request.now, warn });
    },
  };
}
