/**
 * The broker's OpenID discovery document, so that kube-apiserver's JWT authenticator (and any
 * OIDC verifier) can find the keys of tokens the broker signs.
 */
import type { Config } from '../config/schema.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE } from '../oauth.ts';

export function issuerUrl(config: Config, path: string): string {
  return `${config.issuer.replace(/\/$/, '')}${path}`;
}

export function openidConfiguration(config: Config): Record<string, unknown> {
  return {
    issuer: config.issuer,
    jwks_uri: issuerUrl(config, '/.well-known/jwks.json'),
    token_endpoint: issuerUrl(config, '/token'),
    grant_types_supported: [GRANT_TYPE_TOKEN_EXCHANGE],
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [config.signing.alg],
    token_endpoint_auth_methods_supported: ['none'],
    claims_supported: ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'groups', 'scope', 'namespace', 'preferred_username', 'email', 'act'],
  };
}

/**
 * Paths at which a well-known document is served: the root, and under the issuer's path when it
 * has one, so that `issuer + /.well-known/...` resolves with or without a path-stripping proxy.
 */
export function wellKnownPaths(config: Config, name: string): string[] {
  const pathname = new URL(config.issuer).pathname;
  const path = pathname.replace(/\/$/, '');
  const paths = [`/.well-known/${name}`];
  if (path) paths.push(`${path}/.well-known/${name}`);
  // An issuer ending in "/": OIDC Discovery drops that slash, a literal `issuer + /.well-known/...` keeps it.
  if (config.issuer.endsWith('/')) paths.push(`${pathname}/.well-known/${name}`);
  return paths;
}
