/**
 * The peer: oidc-provider (panva) serving the client_credentials grant with ES256-signed JWT
 * access tokens (RFC 9068), on loopback, in its own process (pinned to the server's core by
 * bench/run.ts). Prints one JSON line: the token endpoint, the request body and the
 * Authorization header a client sends.
 *
 *   node bench/support/peer-server.ts
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
// oidc-provider ships no type declarations: a variable specifier keeps tsc from resolving it.
const OIDC_PROVIDER_MODULE: string = 'oidc-provider';

/** JWT access tokens are self-contained, so nothing is stored per token; grants are short-lived. */
class MapAdapter {
  static readonly store = new Map<string, Record<string, unknown>>();
  readonly #model: string;
  constructor(model: string) {
    this.#model = model;
  }
  async upsert(id: string, payload: Record<string, unknown>) {
    MapAdapter.store.set(`${this.#model}:${id}`, payload);
  }
  async find(id: string) {
    return MapAdapter.store.get(`${this.#model}:${id}`);
  }
  async findByUid() {
    return undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async consume() {}
  async destroy(id: string) {
    MapAdapter.store.delete(`${this.#model}:${id}`);
  }
  async revokeByGrantId() {}
}

const RESOURCE = 'urn:argo-sts:bench';

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const clientId = 'bench-client';
const clientSecret = crypto.randomUUID();
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'peer-es256', alg: 'ES256', use: 'sig' };

const { Provider } = (await import(OIDC_PROVIDER_MODULE)) as { Provider: ProviderConstructor };
const provider = new Provider(issuer, {
  adapter: MapAdapter,
  jwks: { keys: [jwk] },
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'argo:submit argo:read',
        audience: 'kubernetes',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  ttl: { ClientCredentials: 600 },
});
server.on('request', provider.callback());

const authorization = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
process.stdout.write(`${JSON.stringify({
  url: `${issuer}/token`,
  authorization,
  body: new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE, scope: 'argo:submit argo:read' }).toString(),
})}\n`);
process.once('SIGTERM', () => server.close(() => process.exit(0)));
