/**
 * A Keycloak-shaped realm for the demo: a real OpenID Provider (`oidc-provider`, a devDependency)
 * on loopback, mounted under `/realms/<realm>` with RS256 keys generated per run, serving RFC 9068
 * JWT access tokens with `aud: argo-sts` (Keycloak's audience mapper) and Keycloak's mapped
 * claims (preferred_username, email, groups, realm_access).
 *
 * Two Keycloak flows are served at the realm's token endpoint (Keycloak's paths:
 * /protocol/openid-connect/token and /certs):
 * - a person signs in with the Resource Owner Password grant (Keycloak's "Direct Access Grants",
 *   registered here as a custom grant, since oidc-provider leaves it out): `sub` is the user's id;
 * - an AI agent authenticates with client credentials: as in Keycloak, the token is its service
 *   account user's, so `sub` is that user's UUID and the client id is in `azp` and `client_id`
 *   (policies match agents by `claims: { azp: <client id> }`, never by `subject`).
 * Development only: users and client secrets are generated per run and live in memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { listenMounted } from './mounted-server.ts';

export const REALM_AUDIENCE = 'argo-sts';
const RESOURCE = 'urn:argo-sts';

export interface RealmUser {
  readonly username: string;
  readonly sub: string;
  readonly email: string;
  readonly groups: readonly string[];
}

export interface KeycloakRealm {
  /** `http://127.0.0.1:<port>/realms/<realm>` */
  readonly issuer: string;
  /** Keycloak's token endpoint path under the realm. */
  readonly tokenEndpoint: string;
  /** An agent client's secret (generated per run), for a client-credentials grant made elsewhere. */
  clientSecret(clientId: string): string;
  /** A person's access token (password grant through the public CLI client). */
  signIn(username: string): Promise<string>;
  /** An agent's access token (client_credentials for its confidential client). */
  serviceAccountToken(clientId: string): Promise<string>;
  /** The UUID of an agent client's service-account user: the `sub` of its tokens. */
  serviceAccountSub(clientId: string): string;
  close(): Promise<void>;
}

interface ProviderLike {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  registerGrantType(name: string, handler: (ctx: GrantContext) => Promise<void>, params: string[]): void;
  AccessToken: new (fields: Record<string, unknown>) => { resourceServer: unknown; expiration: number; scope?: string; save(): Promise<string> };
}
interface GrantContext {
  oidc: { params: Record<string, string | undefined>; client: unknown };
  body: unknown;
}
type ProviderModule = {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => ProviderLike;
  errors: { InvalidGrant: new (description: string) => Error };
};
// Untyped module (no @types): the specifier is a variable so tsc does not resolve it.
const OIDC_PROVIDER_MODULE: string = 'oidc-provider';

/** In-memory storage; clients are served from here so that the custom grant is registered before they are validated. */
function memoryAdapter(clients: Map<string, Record<string, unknown>>) {
  const store = new Map<string, Record<string, unknown>>();
  return class MemoryAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      store.set(`${this.#model}:${id}`, payload);
    }
    async find(id: string) {
      return this.#model === 'Client' ? clients.get(id) : store.get(`${this.#model}:${id}`);
    }
    async findByUid() {
      return undefined;
    }
    async findByUserCode() {
      return undefined;
    }
    async consume(id: string) {
      const payload = store.get(`${this.#model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(`${this.#model}:${id}`);
    }
    async revokeByGrantId() {}
  };
}

export async function startKeycloakRealm(options: { realm: string; users: readonly RealmUser[]; agents: readonly string[] }): Promise<KeycloakRealm> {
  const mountPath = `/realms/${options.realm}`;
  const secrets = new Map(options.agents.map((id) => [id, crypto.randomUUID()]));
  const passwords = new Map(options.users.map((u) => [u.username, crypto.randomUUID()]));
  const clients = new Map<string, Record<string, unknown>>([
    ['argo-cli', { client_id: 'argo-cli', token_endpoint_auth_method: 'none', grant_types: ['password'], redirect_uris: [], response_types: [] }],
    ...options.agents.map((id): [string, Record<string, unknown>] => [id, {
      client_id: id, client_secret: secrets.get(id), token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
    }]),
  ]);
  const usersBySub = new Map(options.users.map((u) => [u.sub, u]));
  const serviceAccounts = new Map(options.agents.map((id) => [id, crypto.randomUUID()]));

  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: `realm-${crypto.randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' };

  const server = await listenMounted(mountPath);
  const issuer = server.url;

  const { Provider, errors } = (await import(OIDC_PROVIDER_MODULE)) as ProviderModule;
  const resourceServer = {
    scope: 'openid profile email',
    audience: REALM_AUDIENCE,
    accessTokenFormat: 'jwt',
    accessTokenTTL: 300,
    jwt: { sign: { alg: 'RS256' } },
  };
  const provider = new Provider(issuer, {
    adapter: memoryAdapter(clients),
    jwks: { keys: [signingJwk] },
    features: {
      devInteractions: { enabled: false },
      // Keycloak's client-credentials grant is registered below: its tokens are the service account user's.
      clientCredentials: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => resourceServer,
      },
    },
    // Keycloak's protocol mappers.
    extraTokenClaims: (_ctx: unknown, token: { accountId?: string; clientId?: string; client?: { clientId?: string } }) => {
      const user = token.accountId ? usersBySub.get(token.accountId) : undefined;
      if (user) {
        return {
          typ: 'Bearer', azp: 'argo-cli', preferred_username: user.username, email: user.email, email_verified: true,
          groups: [...user.groups], realm_access: { roles: ['default-roles-platform'] },
        };
      }
      const clientId = token.clientId ?? token.client?.clientId;
      return { typ: 'Bearer', azp: clientId, client_id: clientId, preferred_username: `service-account-${clientId}`, realm_access: { roles: ['ai-agent'] } };
    },
    ttl: { ClientCredentials: 300, AccessToken: 300 },
    // Keycloak's endpoint paths under the realm.
    routes: { token: '/protocol/openid-connect/token', jwks: '/protocol/openid-connect/certs' },
  });

  // Keycloak's Direct Access Grants (RFC 6749 §4.3).
  provider.registerGrantType('password', async (ctx) => {
    const { username, password } = ctx.oidc.params;
    const user = options.users.find((u) => u.username === username);
    if (!user || !password || passwords.get(user.username) !== password) throw new errors.InvalidGrant('invalid user credentials');
    const token = new provider.AccessToken({ accountId: user.sub, client: ctx.oidc.client, grantId: crypto.randomUUID(), gty: 'password', scope: 'openid profile email' });
    token.resourceServer = resourceServer;
    const accessToken = await token.save();
    ctx.body = { access_token: accessToken, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
  }, ['username', 'password', 'scope']);
  // Keycloak's client credentials (RFC 6749 §4.4): the token of the client's service-account user.
  provider.registerGrantType('client_credentials', async (ctx) => {
    const client = ctx.oidc.client as { clientId: string };
    const accountId = serviceAccounts.get(client.clientId);
    if (!accountId) throw new errors.InvalidGrant('no service account for this client');
    const token = new provider.AccessToken({ accountId, client: ctx.oidc.client, grantId: crypto.randomUUID(), gty: 'client_credentials', scope: 'openid profile' });
    token.resourceServer = resourceServer;
    const accessToken = await token.save();
    ctx.body = { access_token: accessToken, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
  }, ['scope']);
  server.mount(provider.callback());

  async function tokenRequest(body: Record<string, string>, authorization?: string): Promise<string> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (authorization) headers.authorization = authorization;
    const res = await fetch(`${issuer}/protocol/openid-connect/token`, { method: 'POST', headers, body: new URLSearchParams(body).toString() });
    const answer = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
    if (!res.ok || !answer.access_token) throw new Error(`the realm's token endpoint answered ${res.status} ${answer.error ?? ''} ${answer.error_description ?? ''}`);
    return answer.access_token;
  }

  return {
    issuer,
    tokenEndpoint: `${issuer}/protocol/openid-connect/token`,
    clientSecret: (clientId) => secrets.get(clientId) ?? '',
    signIn: (username) => tokenRequest({ grant_type: 'password', client_id: 'argo-cli', username, password: passwords.get(username) ?? '' }),
    serviceAccountToken: (clientId) => tokenRequest(
      { grant_type: 'client_credentials' },
      `Basic ${btoa(`${encodeURIComponent(clientId)}:${encodeURIComponent(secrets.get(clientId) ?? '')}`)}`,
    ),
    serviceAccountSub: (clientId) => serviceAccounts.get(clientId) ?? '',
    close: () => server.close(),
  };
}
