/**
 * A loopback enterprise IdP that issues Identity Assertion JWT Authorization Grants as
 * draft-ietf-oauth-identity-assertion-authz-grant-04 says, by token exchange (RFC 8693) at its
 * own token endpoint:
 *
 *   POST /token  grant_type=urn:ietf:params:oauth:grant-type:token-exchange
 *                requested_token_type=urn:ietf:params:oauth:token-type:id-jag
 *                audience=<the resource authorization server's issuer>  resource=<optional>
 *                scope=<optional>  subject_token=<an ID token it issued>
 *                subject_token_type=urn:ietf:params:oauth:token-type:id_token
 *                client_id + client_secret (client_secret_post) of a registered client
 *   200 { access_token: <ID-JAG>, issued_token_type: ...:id-jag, token_type: "N_A", expires_in, scope? }
 *
 * The ID-JAG: header `typ: oauth-id-jag+jwt`; claims iss, sub (the ID token's), aud (the
 * requested audience, a string), client_id (the authenticated client), jti (fresh), exp, iat,
 * and resource, scope, auth_time when given. Discovery and a JWKS are served like any OIDC issuer's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, createLocalJWKSet, SignJWT, type JWK } from 'jose';

import { ID_TOKEN, TOKEN_EXCHANGE, TOKEN_TYPE_ID_JAG } from './id-jag-client.ts';

export { requestIdJag } from './id-jag-client.ts';

export interface IdJagIssuer {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** The signing key, for suites (workerd) that sign ID tokens where this object does not reach. */
  readonly privateJwk: JWK;
  /** An ID token for `sub`, as a sign-in would give the client (aud = the client). */
  idToken(sub: string, clientId: string, extra?: Record<string, unknown>): Promise<string>;
  /** Any JWT signed with the issuer's key, header `typ` as given (for hostile variants). */
  sign(claims: Record<string, unknown>, typ?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startIdJagIssuer(options: { clients: Record<string, string>; lifetime?: number; now?: () => number }): Promise<IdJagIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `id-jag-${crypto.randomUUID().slice(0, 8)}`;
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
  const lifetime = options.lifetime ?? 300;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const sign = (claims: Record<string, unknown>, typ = 'JWT') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ }).sign(privateKey);

  async function exchange(form: URLSearchParams): Promise<{ status: number; body: Record<string, unknown> }> {
    const error = (code: string, description: string, status = 400) => ({ status, body: { error: code, error_description: description } });
    const clientId = form.get('client_id') ?? '';
    if (!Object.hasOwn(options.clients, clientId) || options.clients[clientId] !== form.get('client_secret')) return error('invalid_client', 'unknown client or wrong secret', 401);
    if (form.get('grant_type') !== TOKEN_EXCHANGE) return error('unsupported_grant_type', 'token exchange only');
    if (form.get('requested_token_type') !== TOKEN_TYPE_ID_JAG) return error('invalid_request', 'requested_token_type must be id-jag');
    if (form.get('subject_token_type') !== ID_TOKEN) return error('invalid_request', 'subject_token_type must be id_token');
    const audience = form.get('audience');
    if (!audience) return error('invalid_request', 'audience (the resource authorization server) is required');
    let subject: Record<string, unknown>;
    try {
      ({ payload: subject } = await jwtVerify(form.get('subject_token') ?? '', createLocalJWKSet({ keys: [publicJwk] }), { issuer, audience: clientId, currentDate: new Date(now() * 1000) }));
    } catch {
      return error('invalid_grant', 'the subject token is not a valid ID token of this issuer for this client');
    }
    const t = now();
    const claims: Record<string, unknown> = { iss: issuer, sub: subject.sub, aud: audience, client_id: clientId, jti: crypto.randomUUID(), exp: t + lifetime, iat: t };
    const resource = form.get('resource');
    const scope = form.get('scope');
    if (resource) claims.resource = resource;
    if (scope) claims.scope = scope;
    if (typeof subject.auth_time === 'number') claims.auth_time = subject.auth_time;
    const body: Record<string, unknown> = { access_token: await sign(claims, 'oauth-id-jag+jwt'), issued_token_type: TOKEN_TYPE_ID_JAG, token_type: 'N_A', expires_in: lifetime };
    if (scope) body.scope = scope;
    return { status: 200, body };
  }

  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
      json(200, { issuer, jwks_uri: `${issuer}/jwks`, token_endpoint: `${issuer}/token`, grant_types_supported: [TOKEN_EXCHANGE], id_token_signing_alg_values_supported: ['ES256'] });
    } else if (req.method === 'GET' && req.url === '/jwks') {
      json(200, { keys: [publicJwk] });
    } else if (req.method === 'POST' && req.url === '/token') {
      let raw = '';
      req.on('data', (chunk: Buffer) => {
        raw += chunk.toString('utf8');
      });
      req.on('end', () => {
        exchange(new URLSearchParams(raw)).then(({ status, body }) => json(status, body), () => json(500, { error: 'server_error' }));
      });
    } else {
      json(404, { error: 'not_found' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    privateJwk,
    idToken: (sub, clientId, extra = {}) => {
      const t = now();
      return sign({ iss: issuer, sub, aud: clientId, iat: t, exp: t + 300, auth_time: t - 30, ...extra });
    },
    sign,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
