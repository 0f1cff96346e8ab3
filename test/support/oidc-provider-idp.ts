/**
 * A real OpenID Provider on loopback, shaped like a Keycloak realm: `oidc-provider` (panva) mounted
 * under `/realms/<realm>`, RS256 keys generated per instance, a confidential client with the
 * client_credentials grant, and RFC 9068 JWT access tokens.
 *
 * Keycloak's "audience mapper" is modelled with resource indicators (RFC 8707): a token requested
 * with `resource=urn:argo-sts` carries `aud: "argo-sts"`; any other absolute URI becomes its own
 * audience, which is how a test obtains a genuine token for the wrong audience. Keycloak's
 * protocol mappers (groups, preferred_username, email, azp) are `extraTokenClaims`.
 *
 * What oidc-provider puts in a client_credentials JWT access token: `sub` is the client id (there
 * is no end-user), `client_id`, `iat`, `exp`, `jti`, `iss`, `aud`, `scope` when granted, no `nbf`,
 * header `typ: at+jwt`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { listenMounted } from '../../cli/demo/mounted-server.ts';

/** The resource indicator whose tokens carry `aud: argo-sts`. */
export const ARGO_STS_RESOURCE = 'urn:argo-sts';
export const ARGO_STS_AUDIENCE = 'argo-sts';

export interface OidcProviderIdp {
  /** `http://127.0.0.1:<port>/realms/<realm>` */
  readonly issuer: string;
  readonly clientId: string;
  /** The claims Keycloak's mappers would add, as put in every access token. */
  readonly mappedClaims: Readonly<Record<string, unknown>>;
  /** A client_credentials access token from the real token endpoint, for one resource indicator. */
  accessToken(resource?: string): Promise<string>;
  close(): Promise<void>;
}

// oidc-provider ships no type declarations (and @types/oidc-provider is not a dependency): the
// subset used here is typed by hand, and the import specifier is a variable so that tsc does not
// try to resolve the untyped module.
interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
const OIDC_PROVIDER_MODULE: string = 'oidc-provider';

/** Keeps the provider's state in this instance (and keeps its "in-memory adapter" warning quiet). */
function mapAdapter() {
  const store = new Map<string, Record<string, unknown>>();
  return class MapAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string) {
      return `${this.#model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      store.set(this.#key(id), payload);
    }
    async find(id: string) {
      return store.get(this.#key(id));
    }
    async findByUid(uid: string) {
      return [...store.entries()].find(([k, v]) => k.startsWith(`${this.#model}:`) && v.uid === uid)?.[1];
    }
    async findByUserCode(userCode: string) {
      return [...store.entries()].find(([k, v]) => k.startsWith(`${this.#model}:`) && v.userCode === userCode)?.[1];
    }
    async consume(id: string) {
      const payload = store.get(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, v] of store) if (v.grantId === grantId) store.delete(k);
    }
  };
}

export async function startOidcProviderIdp(options: { realm?: string; clientId?: string } = {}): Promise<OidcProviderIdp> {
  const realm = options.realm ?? 'platform';
  const clientId = options.clientId ?? 'argo-ci';
  const clientSecret = crypto.randomUUID();
  const mountPath = `/realms/${realm}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid: `kc-${crypto.randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' };

  // What Keycloak's mappers put in a service account's access token.
  const mappedClaims = {
    typ: 'Bearer',
    azp: clientId,
    groups: ['platform-engineers', 'argo-users'],
    preferred_username: `service-account-${clientId}`,
    email: `${clientId}@platform.example.com`,
    email_verified: true,
    realm_access: { roles: ['default-roles-platform', 'argo-submitter'] },
  };

  const server = await listenMounted(mountPath);
  const issuer = server.url;

  const { Provider } = (await import(OIDC_PROVIDER_MODULE)) as { Provider: ProviderConstructor };
  const provider = new Provider(issuer, {
    adapter: mapAdapter(),
    jwks: { keys: [signingJwk] },
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => ARGO_STS_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'profile email',
          audience: resource === ARGO_STS_RESOURCE ? ARGO_STS_AUDIENCE : resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: () => ({ ...mappedClaims }),
    ttl: { ClientCredentials: 300 },
  });
  server.mount(provider.callback());

  return {
    issuer,
    clientId,
    mappedClaims,
    async accessToken(resource = ARGO_STS_RESOURCE) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource }).toString(),
      });
      const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (res.status !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`oidc-provider token endpoint answered ${res.status}: ${body.error ?? ''} ${body.error_description ?? ''}`);
      }
      return body.access_token;
    },
    close: () => server.close(),
  };
}
