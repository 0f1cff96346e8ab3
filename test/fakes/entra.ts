/**
 * A loopback Microsoft Entra ID (v2 endpoints) for one tenant:
 *
 * - an OIDC issuer for user access tokens: `{base}/{tenant}/v2.0` with discovery and a JWKS, so
 *   the broker verifies subject tokens from it like real Entra tokens;
 * - the token endpoint `POST {base}/{tenant}/oauth2/v2.0/token` (form-encoded) with
 *   `grant_type=client_credentials` and the on-behalf-of grant
 *   (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion`,
 *   `requested_token_use=on_behalf_of`), both authenticated with `client_id` + `client_secret`.
 *
 * Errors follow Entra's shape: `{error, error_description: "AADSTS…: …", error_codes, timestamp,
 * trace_id, correlation_id}` — invalid_client (AADSTS7000215, 401), invalid_grant for an assertion
 * with a bad signature (AADSTS50013), the wrong audience (AADSTS50013) or expired (AADSTS500133),
 * invalid_scope (AADSTS70011).
 *
 * MSAL refuses a non-https authority, so `msalMetadata()` gives the JSON documents MSAL takes as
 * `authorityMetadata` / `cloudDiscoveryMetadata`: authority https://login.microsoftonline.com,
 * endpoints on this loopback server.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';

export const AKS_SERVER_APP = '6dae42f8-4368-4678-94ff-3960e28e3630';

/** The tenant and app registration the tests use (the shapes of real GUIDs, not real ones). */
export const FAKE_TENANT = {
  tenantId: '8f3e2a1b-6c5d-4e7f-9a0b-1c2d3e4f5a6b',
  clientId: '3c1d9e8f-7a6b-4c5d-8e9f-0a1b2c3d4e5f',
  clientSecret: 'entra-client-secret-value',
} as const;

export interface FakeEntraOptions {
  readonly tenantId: string;
  /** The broker's app registration. */
  readonly clientId: string;
  readonly clientSecret: string;
  /** Seconds since the epoch; defaults to the real clock. */
  readonly now?: () => number;
  /** Lifetime of issued access tokens (Entra: 60–90 minutes). */
  readonly tokenLifetime?: number;
}

export interface TokenCall {
  readonly grant_type: string | null;
  readonly scope: string | null;
  readonly requested_token_use: string | null;
  readonly client_id: string | null;
  readonly has_assertion: boolean;
}

export interface FakeEntra {
  readonly base: string;
  /** `iss` of this tenant's v2 tokens (loopback). */
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly calls: TokenCall[];
  /** A user access token for the broker's app, as a user would bring it. */
  userToken(claims?: Record<string, unknown>, options?: { foreignKey?: boolean }): Promise<string>;
  /** authority / authority_metadata / cloud_discovery_metadata for a target's config. */
  msalMetadata(): { authority: string; authorityMetadata: string; cloudDiscoveryMetadata: string };
  close(): Promise<void>;
}

export async function startFakeEntra(options: FakeEntraOptions): Promise<FakeEntra> {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const foreign = await generateKeyPair('RS256');
  const kid = `entra-${randomUUID().slice(0, 8)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
  const calls: TokenCall[] = [];
  const lifetime = options.tokenLifetime ?? 3599;
  const t = options.tenantId;

  const sign = (claims: Record<string, unknown>, key = privateKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(key);

  function aadError(res: import('node:http').ServerResponse, status: number, error: string, code: number, text: string) {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    }));
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const path = new URL(req.url ?? '/', 'http://fake').pathname;
        if (req.method === 'GET' && path === `/${t}/v2.0/.well-known/openid-configuration`) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(openidConfiguration()));
          return;
        }
        if (req.method === 'GET' && path === `/${t}/discovery/v2.0/keys`) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ keys: [jwk] }));
          return;
        }
        if (req.method !== 'POST' || path !== `/${t}/oauth2/v2.0/token`) {
          res.writeHead(404).end();
          return;
        }
        if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
          return aadError(res, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
        }
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const grant = form.get('grant_type');
        calls.push({
          grant_type: grant,
          scope: form.get('scope'),
          requested_token_use: form.get('requested_token_use'),
          client_id: form.get('client_id'),
          has_assertion: form.has('assertion'),
        });
        if (form.get('client_id') !== options.clientId) {
          return aadError(res, 400, 'unauthorized_client', 700016, `Application with identifier '${form.get('client_id')}' was not found in the directory.`);
        }
        if (form.get('client_secret') !== options.clientSecret) {
          return aadError(res, 401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
        }
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const resource = scopes.find((s) => s.endsWith('/.default'));
        if (!resource) return aadError(res, 400, 'invalid_scope', 70011, 'The provided value for the input parameter \'scope\' is not valid.');
        const audience = resource.slice(0, -'/.default'.length);
        const iat = now();
        if (grant === 'client_credentials') {
          const accessToken = await sign({
            aud: audience, iss: `https://sts.windows.net/${t}/`, iat, nbf: iat, exp: iat + lifetime,
            appid: options.clientId, oid: `sp-${options.clientId}`, sub: `sp-${options.clientId}`, tid: t, idtyp: 'app', ver: '1.0',
          });
          return tokenResponse(res, { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken });
        }
        if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
          if (form.get('requested_token_use') !== 'on_behalf_of') {
            return aadError(res, 400, 'invalid_request', 90014, "The request body must contain the following parameter: 'requested_token_use'.");
          }
          let user: Record<string, unknown>;
          try {
            const verified = await jwtVerify(form.get('assertion') ?? '', publicKey, { issuer: `${base}/${t}/v2.0`, currentDate: new Date(iat * 1000) });
            user = verified.payload as Record<string, unknown>;
          } catch (err) {
            const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED';
            return expired
              ? aadError(res, 400, 'invalid_grant', 500133, 'Assertion is not within its valid time range.')
              : aadError(res, 400, 'invalid_grant', 50013, 'Assertion failed signature validation.');
          }
          if (user.aud !== options.clientId && user.aud !== `api://${options.clientId}`) {
            return aadError(res, 400, 'invalid_grant', 50013, 'Assertion audience does not match the Client app presenting the assertion.');
          }
          const accessToken = await sign({
            aud: audience, iss: `https://sts.windows.net/${t}/`, iat, nbf: iat, exp: iat + lifetime,
            oid: user.oid, upn: user.preferred_username, sub: user.sub, tid: t, scp: 'user.read', appid: options.clientId, ver: '1.0',
          });
          return tokenResponse(res, { token_type: 'Bearer', scope: scopes.join(' '), expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken });
        }
        return aadError(res, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      })().catch(() => {
        res.writeHead(500).end();
      });
    });
  });

  function tokenResponse(res: import('node:http').ServerResponse, body: Record<string, unknown>) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store, no-cache' });
    res.end(JSON.stringify(body));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/${t}/v2.0`;
  const tokenEndpoint = `${base}/${t}/oauth2/v2.0/token`;

  function openidConfiguration() {
    return {
      token_endpoint: tokenEndpoint,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/${t}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer,
      request_uri_parameter_supported: false,
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
      authorization_endpoint: `${base}/${t}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/${t}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/${t}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'oid', 'tid', 'preferred_username'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
    };
  }

  return {
    base,
    issuer,
    tokenEndpoint,
    calls,
    async userToken(claims = {}, signOptions = {}) {
      const iat = now();
      const token = await sign({
        aud: options.clientId, iss: issuer, iat, nbf: iat, exp: iat + 3600,
        sub: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ', oid: '00000000-0000-0000-66f3-3332eca7ea81', tid: t,
        preferred_username: 'ada@contoso.example', name: 'Ada Lovelace', scp: 'access_as_user', ver: '2.0',
        ...claims,
      }, signOptions.foreignKey ? foreign.privateKey : privateKey);
      return token;
    },
    msalMetadata() {
      return {
        authority: 'https://login.microsoftonline.com',
        authorityMetadata: JSON.stringify(openidConfiguration()),
        cloudDiscoveryMetadata: JSON.stringify({
          tenant_discovery_endpoint: `https://login.microsoftonline.com/${t}/v2.0/.well-known/openid-configuration`,
          'api-version': '1.1',
          metadata: [{ preferred_network: 'login.microsoftonline.com', preferred_cache: 'login.windows.net', aliases: ['login.microsoftonline.com', 'login.windows.net', 'login.microsoft.com'] }],
        }),
      };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
