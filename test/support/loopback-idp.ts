/**
 * A loopback identity provider for tests: OIDC discovery and a JWKS on 127.0.0.1, and a signer
 * for claim sets shaped like the real providers' (../shared/fixtures/claims). Keys are generated
 * per instance. It counts requests so tests can assert caching and cooldowns.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

export interface LoopbackIdp {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly kid: string;
  /** Public JWK Set served at jwks_uri. */
  readonly jwks: { keys: JWK[] };
  /** Private JWK of the current key (for signing inside workerd tests). */
  readonly privateJwk: JWK;
  readonly requests: { discovery: number; jwks: number };
  /** Signs claims; `_times` offsets (seconds from `now`) fill nbf/iat/exp. */
  sign(claims: Record<string, unknown>, options?: SignOptions): Promise<string>;
  /** Replaces the served keys (rotation) and returns the new kid. */
  rotate(): Promise<string>;
  /** Makes the JWKS endpoint answer 503 (or recover). */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export interface SignOptions {
  /** Seconds since the epoch; defaults to the real clock. */
  now?: number;
  kid?: string;
  alg?: string;
  /** Sign with a key the IdP does not publish. */
  foreignKey?: boolean;
}

// Copied from the handbook's fixtures so a clone runs on its own.
const FIXTURES = fileURLToPath(new URL('../fixtures/claims/', import.meta.url));

/** A claim fixture with `_` fields stripped and `_times` turned into nbf/iat/exp relative to `now`. */
export function fixtureClaims(name: string, now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const raw = JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8')) as Record<string, unknown>;
  const claims: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) if (!key.startsWith('_')) claims[key] = value;
  const times = (raw._times ?? {}) as Record<string, number>;
  for (const field of ['nbf', 'iat', 'exp', 'auth_time']) {
    if (typeof times[field] === 'number') claims[field] = now + times[field];
  }
  return { ...claims, ...overrides };
}

async function newKey(alg: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
}

export async function startLoopbackIdp(options: { path?: string; alg?: string } = {}): Promise<LoopbackIdp> {
  const alg = options.alg ?? 'RS256';
  let current = await newKey(alg);
  let kid = `test-${crypto.randomUUID().slice(0, 8)}`;
  const foreign = await newKey(alg);
  const requests = { discovery: 0, jwks: 0 };
  let down = false;
  const jwks = () => ({ keys: [{ ...current.publicJwk, kid, alg, use: 'sig' }] });

  const server: Server = createServer((req, res) => {
    const path = options.path ?? '';
    if (req.url === `${path}/.well-known/openid-configuration`) {
      requests.discovery++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${base}${path}/jwks`, id_token_signing_alg_values_supported: [alg] }));
    } else if (req.url === `${path}/jwks`) {
      requests.jwks++;
      if (down) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(jwks()));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}${options.path ?? ''}`;

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    get kid() {
      return kid;
    },
    get jwks() {
      return jwks();
    },
    get privateJwk() {
      return { ...current.privateJwk, kid, alg };
    },
    requests,
    async sign(claims, signOptions = {}) {
      const key = signOptions.foreignKey ? foreign.privateKey : current.privateKey;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: signOptions.alg ?? alg, typ: 'JWT', kid: signOptions.kid ?? kid })
        .sign(key);
    },
    async rotate() {
      current = await newKey(alg);
      kid = `test-${crypto.randomUUID().slice(0, 8)}`;
      return kid;
    },
    setDown(value) {
      down = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
