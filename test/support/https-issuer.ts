/**
 * A loopback OIDC issuer over https, as kube-apiserver requires of JWT authenticators: a
 * certificate made by openssl for 127.0.0.1 (its PEM goes into `issuer.certificateAuthority`),
 * discovery and a JWKS with generated keys. `issuer` may name another URL (an Entra- or
 * Keycloak-shaped one) that the discovery document claims, so a config reaches it through
 * `issuer.discoveryURL` exactly as a cluster reaches a self-hosted IdP.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

export interface HttpsIssuer {
  /** https://127.0.0.1:PORT */
  readonly base: string;
  /** The issuer the discovery document names (and tokens carry by default). */
  readonly issuer: string;
  readonly discoveryUrl: string;
  readonly caPem: string;
  readonly kid: string;
  sign(claims: Record<string, unknown>, options?: { kid?: string; foreignKey?: boolean; alg?: string }): Promise<string>;
  close(): Promise<void>;
}

let certificate: Promise<{ key: string; cert: string }> | undefined;

/** One self-signed certificate for 127.0.0.1 per test process. */
export function loopbackCertificate(): Promise<{ key: string; cert: string }> {
  certificate ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argo-sts-tls-'));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const pems = { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
    await rm(dir, { recursive: true, force: true });
    return pems;
  })();
  return certificate;
}

export async function startHttpsIssuer(options: { alg?: string; issuer?: (base: string) => string; path?: string } = {}): Promise<HttpsIssuer> {
  const alg = options.alg ?? 'RS256';
  const tls = await loopbackCertificate();
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const foreign = await generateKeyPair(alg);
  const publicJwk: JWK = await exportJWK(publicKey);
  const kid = `k-${crypto.randomUUID().slice(0, 8)}`;
  const path = options.path ?? '';
  let base = '';
  let issuer = '';
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    if (req.url === `${path}/.well-known/openid-configuration`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${base}${path}/keys` }));
    } else if (req.url === `${path}/keys`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...publicJwk, kid, alg, use: 'sig' }] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = options.issuer ? options.issuer(base) : `${base}${path}`;
  return {
    base,
    issuer,
    discoveryUrl: `${base}${path}/.well-known/openid-configuration`,
    caPem: tls.cert,
    kid,
    sign: (claims, signOptions = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: signOptions.alg ?? alg, typ: 'JWT', kid: signOptions.kid ?? kid })
        .sign(signOptions.foreignKey ? foreign.privateKey : privateKey),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A PEM indented for a YAML block scalar (`certificateAuthority: |`). */
export function indentPem(pem: string, spaces: number): string {
  return pem.trim().split('\n').map((line) => ' '.repeat(spaces) + line).join('\n');
}

/**
 * A one-authenticator AuthenticationConfiguration for an https loopback issuer, trusting its CA:
 * usernames from `preferred_username` and groups from `groups`, both prefixed "oidc:" (override
 * with `username`), and optional `claimValidationRules` lines.
 */
export function oneIssuerConfig(idp: HttpsIssuer, options: { version?: 'v1' | 'v1beta1'; audiences?: string[]; username?: string; rules?: string } = {}): string {
  return `apiVersion: apiserver.config.k8s.io/${options.version ?? 'v1'}
kind: AuthenticationConfiguration
jwt:
  - issuer:
      url: ${idp.issuer}
      audiences: [${(options.audiences ?? ['kubernetes']).join(', ')}]
      certificateAuthority: |
${indentPem(idp.caPem, 8)}
${options.rules ? `    claimValidationRules:\n${options.rules}\n` : ''}    claimMappings:
      username: { ${options.username ?? 'claim: preferred_username, prefix: "oidc:"'} }
      groups: { claim: groups, prefix: "oidc:" }
`;
}

/**
 * A broker config for the diagnose page's cluster section: the cluster diagnosis uses none of its
 * idps or policies, only its issuer (loopback issuers may fetch from loopback hosts).
 */
export function pageBrokerConfig(issuer: string): string {
  return `
issuer: ${issuer}
signing: { alg: ES256, keys: env:SIGNING_KEYS }
idps:
  - { name: kc, issuer: "https://kc.example.com/realms/x", audiences: [argo-sts], jwks_uri: "https://kc.example.com/jwks" }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: p, idp: kc, target: argo-prod, subject: s, namespaces: [ci], scopes: [argo:read] }
`;
}
