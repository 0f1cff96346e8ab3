/**
 * Entra ID through @azure/msal-node: one ConfidentialClientApplication per target, created on
 * first use and kept for the process (Node) or isolate (Workers) with MSAL's in-memory token
 * cache. Runs on Node 24 and in workerd with `compatibility_flags = ["nodejs_compat"]`.
 *
 * MSAL's HTTP goes through the broker's fetch (a small INetworkModule), so it has the broker's
 * timeout and works the same on both runtimes. MSAL refuses non-https authorities; a target may
 * give `authority_metadata` and `cloud_discovery_metadata` (MSAL's own options) to skip
 * discovery — for air-gapped or sovereign clouds, and for the loopback Entra fake in tests.
 */
import type { ConfidentialClientApplication, INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { FETCH_LIMITS, type FetchLike, readCapped } from '../../shared/http/fetch-capped.ts';
import { type EntraTarget, type EntraToken, type EntraTokenClient, EntraRefusal, entraAuthority } from '../../shared/targets/entra.ts';

/** A hung token endpoint must not hold the client. */
const REQUEST_TIMEOUT_MS = 5_000;

/** MSAL's network module on fetch. */
export function fetchNetworkModule(fetch: FetchLike): INetworkModule {
  async function send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions, timeoutMs?: number): Promise<NetworkResponse<T>> {
    const response = await fetch(url, {
      method,
      headers: options?.headers ?? {},
      ...(method === 'POST' ? { body: options?.body ?? '' } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs ?? REQUEST_TIMEOUT_MS),
    });
    const text = await readCapped(response, FETCH_LIMITS.maxResponseBytes, url);
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      body = { error: 'invalid_response', error_description: `non-JSON answer with status ${response.status}` };
    }
    return { headers: Object.fromEntries(response.headers.entries()), body: body as T, status: response.status };
  }
  return {
    sendGetRequestAsync: (url, options, timeout) => send('GET', url, options, timeout),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

function toEntraToken(result: { accessToken: string; expiresOn: Date | null } | null): EntraToken {
  if (!result || !result.accessToken || !result.expiresOn) throw new EntraRefusal('invalid_response', undefined);
  return { accessToken: result.accessToken, expiresOn: Math.floor(result.expiresOn.getTime() / 1000) };
}

/** MSAL's ServerError / InteractionRequiredAuthError → EntraRefusal; anything else passes through. */
function translate(err: unknown): unknown {
  const e = err as { name?: unknown; errorCode?: unknown; errorMessage?: unknown };
  if (e && (e.name === 'ServerError' || e.name === 'InteractionRequiredAuthError') && typeof e.errorCode === 'string') {
    const aadsts = typeof e.errorMessage === 'string' ? /AADSTS\d+/.exec(e.errorMessage)?.[0] : undefined;
    return new EntraRefusal(e.errorCode, aadsts, { cause: err });
  }
  return err;
}

export function msalEntraClientFactory(fetch: FetchLike): (target: EntraTarget, clientSecret: string) => EntraTokenClient {
  const networkClient = fetchNetworkModule(fetch);
  return (target, clientSecret) => {
    let app: ConfidentialClientApplication | undefined;
    async function application(): Promise<ConfidentialClientApplication> {
      if (app) return app;
      const msal = await import('@azure/msal-node');
      const authority = entraAuthority(target);
      app = new msal.ConfidentialClientApplication({
        auth: {
          clientId: target.client_id,
          clientSecret,
          authority,
          knownAuthorities: [new URL(authority).host],
          ...(target.authority_metadata ? { authorityMetadata: target.authority_metadata } : {}),
          ...(target.cloud_discovery_metadata ? { cloudDiscoveryMetadata: target.cloud_discovery_metadata } : {}),
        },
        system: {
          networkClient,
          // MSAL's logger stays quiet: its messages can carry request detail.
          loggerOptions: { piiLoggingEnabled: false, logLevel: msal.LogLevel.Error, loggerCallback: () => {} },
        },
      });
      return app;
    }
    return {
      async onBehalfOf(assertion, scopes) {
        try {
          return toEntraToken(await (await application()).acquireTokenOnBehalfOf({ oboAssertion: assertion, scopes: [...scopes] }));
        } catch (err) {
          throw translate(err);
        }
      },
      async clientCredentials(scopes) {
        try {
          return toEntraToken(await (await application()).acquireTokenByClientCredential({ scopes: [...scopes] }));
        } catch (err) {
          throw translate(err);
        }
      },
    };
  };
}
