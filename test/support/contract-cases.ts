/**
 * The external contract as one table of cases, run against a base URL: the Node server under
 * `npm start` (test/e2e/contract-node.test.ts) and the Worker in real workerd under
 * `wrangler dev` (test/e2e/contract-worker.test.ts) answer every case the same. Each case is an
 * HTTP request a client could send and the status, error and check it must get; then the
 * durable audit rows (SQLite on Node, D1 on Workers) and the logs are checked for every decision
 * made. Where the runtimes must differ, docs/runtimes.md says so and the case names the runtime.
 */
import { request as httpRequest } from 'node:http';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { CHECK_IDS } from '../../shared/errors.ts';
import { CI_MAIN_POLICY_YAML } from './configs.ts';
import { fixtureClaims, type LoopbackIdp } from './loopback-idp.ts';
import { ARGO_STS_AUDIENCE, type OidcProviderIdp } from './oidc-provider-idp.ts';
import { ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from './token-requests.ts';

export const CONTRACT_ISSUER = 'https://sts.contract.test';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** The runner idp's per-subject limit: this many exchanges an hour. */
const RUNNER_REQUESTS_PER_HOUR = 3;

export interface ContractIdps {
  /** GitHub Actions-shaped (preset github-actions), with the ci-main policy. */
  readonly github: LoopbackIdp;
  /** A generic CI runner issuer: single-use tokens and a per-subject rate limit. */
  readonly runner: LoopbackIdp;
  /** A real OpenID Provider (oidc-provider), Keycloak-shaped: client_credentials access tokens. */
  readonly keycloak: OidcProviderIdp;
}

/** The config both runtimes serve; only the audit sink differs (sqlite:PATH or d1:BINDING). */
export function contractConfig(idps: ContractIdps, auditSink: string): string {
  return `
issuer: ${CONTRACT_ISSUER}
signing: { alg: ES256, keys: env:SIGNING_KEYS }
defaults: { ttl: 10m, max_ttl: 1h, clock_skew: 60s }
idps:
  - name: github
    issuer: ${idps.github.issuer}
    audiences: [argo-sts]
    preset: github-actions
  - name: runner
    issuer: ${idps.runner.issuer}
    audiences: [argo-sts]
    single_use: true
    rate_limit: { per_subject: { requests: ${RUNNER_REQUESTS_PER_HOUR}, per: 1h } }
  - name: keycloak
    issuer: ${idps.keycloak.issuer}
    audiences: [${ARGO_STS_AUDIENCE}]
    preset: keycloak
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
${CI_MAIN_POLICY_YAML}
  - { id: runner-jobs, idp: runner, target: argo-prod, subject_pattern: "job:*", namespaces: [ci], scopes: [argo:read] }
  # oidc-provider puts the client id in the sub of a client_credentials access token
  - id: platform-ci
    idp: keycloak
    target: argo-prod
    subject: ${idps.keycloak.clientId}
    claims: { azp: ${idps.keycloak.clientId}, groups: platform-engineers }
    namespaces: [platform]
    scopes: [argo:manage]
audit: { sink: "${auditSink}" }
`;
}

export interface ContractBroker {
  readonly url: string;
  /** Every line the broker wrote so far, stdout and stderr. */
  output(): readonly string[];
  /** The durable audit rows for a request id or an issued jti. */
  auditRows(where: 'request_id' | 'jti', value: string): Record<string, unknown>[];
}

export interface ContractTarget {
  readonly runtime: 'node' | 'workers';
  broker(): ContractBroker;
  idps(): ContractIdps;
}

export interface HttpRequestSpec {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Sent with a content-length. */
  readonly body?: string | Buffer;
  /** Sent with chunked transfer encoding (no content-length). */
  readonly chunks?: readonly Buffer[];
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, any>;
}

/** One request over real HTTP (node:http, so chunked and large bodies are sent as a client sends them). */
export function send(baseUrl: string, spec: HttpRequestSpec): Promise<HttpAnswer> {
  const url = new URL(spec.path, baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...spec.headers };
    if (spec.body !== undefined) headers['content-length'] = String(Buffer.byteLength(spec.body));
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: spec.method ?? 'GET', headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: Record<string, any> = {};
        try {
          json = JSON.parse(text) as Record<string, any>;
        } catch {
          /* not JSON: the case's assertions say what was expected */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (spec.body !== undefined) req.end(spec.body);
    else {
      for (const chunk of spec.chunks ?? []) req.write(chunk);
      req.end();
    }
  });
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };
const nowSeconds = () => Math.floor(Date.now() / 1000);

function exchangeBody(params: Record<string, string>): string {
  return new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token_type: ID_TOKEN_TYPE, audience: 'argo-prod', ...params }).toString();
}

/** What a case may use to build its request. */
interface Tools {
  github(claims?: Record<string, unknown>, options?: { foreignKey?: boolean; alg?: string }): Promise<string>;
  runner(sub: string, claims?: Record<string, unknown>): Promise<string>;
}

interface Case {
  readonly name: string;
  readonly request: (tools: Tools) => Promise<HttpRequestSpec>;
  readonly expected: { readonly status: number; readonly error: string; readonly check: string };
}

const token = (params: Record<string, string>): HttpRequestSpec => ({ method: 'POST', path: '/token', headers: form, body: exchangeBody(params) });
const aBytes = (n: number) => Buffer.alloc(n, 0x61);

/** Refusals by a check: the status, the OAuth error and the check id, as DESIGN.md lists them. */
const REFUSALS: readonly Case[] = [
  { name: 'a token for another audience', request: async (t) => token({ subject_token: await t.github({ aud: 'https://github.com/acme' }) }), expected: { status: 400, error: 'invalid_request', check: 'audience' } },
  { name: 'a token that expired an hour ago', request: async (t) => token({ subject_token: await t.github({ iat: nowSeconds() - 3900, nbf: nowSeconds() - 3900, exp: nowSeconds() - 3600 }) }), expected: { status: 400, error: 'invalid_request', check: 'expiry' } },
  { name: 'a token not valid for another 10 minutes', request: async (t) => token({ subject_token: await t.github({ nbf: nowSeconds() + 600, exp: nowSeconds() + 900 }) }), expected: { status: 400, error: 'invalid_request', check: 'not_before' } },
  { name: 'a token issued 10 minutes in the future', request: async (t) => token({ subject_token: await t.github({ iat: nowSeconds() + 600, exp: nowSeconds() + 900 }) }), expected: { status: 400, error: 'invalid_request', check: 'issued_at' } },
  { name: 'a token of an issuer that is not configured', request: async (t) => token({ subject_token: await t.github({ iss: 'https://token.actions.githubusercontent.com' }) }), expected: { status: 400, error: 'invalid_request', check: 'issuer' } },
  { name: 'a token signed with a key its issuer does not publish', request: async (t) => token({ subject_token: await t.github({}, { foreignKey: true }) }), expected: { status: 400, error: 'invalid_request', check: 'signature' } },
  { name: 'a token of a branch no policy serves', request: async (t) => token({ subject_token: await t.github({ sub: 'repo:acme/app:ref:refs/heads/feature-x', ref: 'refs/heads/feature-x' }) }), expected: { status: 400, error: 'invalid_request', check: 'policy' } },
  { name: 'a scope the policy does not grant', request: async (t) => token({ subject_token: await t.github(), scope: 'argo:manage' }), expected: { status: 400, error: 'invalid_scope', check: 'scope' } },
  { name: 'a namespace the policy does not grant', request: async (t) => token({ subject_token: await t.github(), namespace: 'prod' }), expected: { status: 400, error: 'invalid_scope', check: 'namespace' } },
  { name: 'an audience that names no target', request: async (t) => token({ subject_token: await t.github(), audience: 'argo-nowhere' }), expected: { status: 400, error: 'invalid_target', check: 'target' } },
];

/** Hostile or malformed input: refused as a request problem, never a 5xx, on every runtime. */
const HOSTILE: readonly Case[] = [
  { name: 'a subject token that is not a JWT', request: async () => token({ subject_token: 'not-a-jwt' }), expected: { status: 400, error: 'invalid_request', check: 'format' } },
  { name: 'an unsigned token (alg none)', request: async (t) => {
    const [, payload] = (await t.github()).split('.');
    return token({ subject_token: `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.` });
  }, expected: { status: 400, error: 'invalid_request', check: 'format' } },
  // The token's own check, format, as for a missing, empty or Bearer-prefixed subject token.
  { name: 'a subject token over 16 KiB', request: async () => token({ subject_token: `${'a'.repeat(16 * 1024 + 1)}` }), expected: { status: 400, error: 'invalid_request', check: 'format' } },
  { name: 'another grant type', request: async (t) => token({ subject_token: await t.github(), grant_type: 'client_credentials' }), expected: { status: 400, error: 'unsupported_grant_type', check: 'request' } },
  { name: 'a repeated parameter', request: async (t) => ({ method: 'POST', path: '/token', headers: form, body: `${exchangeBody({ subject_token: await t.github() })}&audience=argo-prod` }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'a content type other than form or JSON', request: async (t) => ({ method: 'POST', path: '/token', headers: { 'content-type': 'text/plain' }, body: exchangeBody({ subject_token: await t.github() }) }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'a JSON body that is an array', request: async () => ({ method: 'POST', path: '/token', headers: { 'content-type': 'application/json' }, body: '[]' }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'a body that is not UTF-8', request: async () => ({ method: 'POST', path: '/token', headers: form, body: Buffer.from([0x67, 0x72, 0x61, 0xff, 0xfe]) }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'GET on the token endpoint', request: async () => ({ method: 'GET', path: '/token' }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'a 1 MiB body with its content-length', request: async () => ({ method: 'POST', path: '/token', headers: form, body: aBytes(1024 * 1024) }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'a 1 MiB body, chunked', request: async () => ({ method: 'POST', path: '/token', headers: form, chunks: Array.from({ length: 16 }, () => aBytes(64 * 1024)) }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'an 8 MiB body with its content-length', request: async () => ({ method: 'POST', path: '/token', headers: form, body: aBytes(8 * 1024 * 1024) }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'an 8 MiB body, chunked', request: async () => ({ method: 'POST', path: '/token', headers: form, chunks: Array.from({ length: 128 }, () => aBytes(64 * 1024)) }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
  { name: 'an 8 MiB body to /diagnose, chunked', request: async () => ({ method: 'POST', path: '/diagnose', headers: form, chunks: Array.from({ length: 128 }, () => aBytes(64 * 1024)) }), expected: { status: 400, error: 'invalid_request', check: 'request' } },
];

/** A decision the broker made, for the audit and leak checks at the end. */
interface Decision {
  readonly requestId: string;
  readonly status: number;
  readonly check?: string;
  readonly jti?: string;
}

/** Registers the contract suite for one runtime. */
export function describeContract(target: ContractTarget): void {
  const decisions: Decision[] = [];
  const tokens = new Set<string>();
  const tools: Tools = {
    async github(claims = {}, options = {}) {
      const { github } = target.idps();
      const signed = await github.sign(fixtureClaims('github-actions', nowSeconds(), { iss: github.issuer, jti: crypto.randomUUID(), ...claims }), options);
      tokens.add(signed);
      return signed;
    },
    async runner(sub, claims = {}) {
      const { runner } = target.idps();
      const now = nowSeconds();
      const signed = await runner.sign({ iss: runner.issuer, sub, aud: 'argo-sts', iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims });
      tokens.add(signed);
      return signed;
    },
  };

  /** Sends a request and records the decision it produced (token and diagnose requests). */
  async function call(spec: HttpRequestSpec): Promise<HttpAnswer> {
    const answer = await send(target.broker().url, spec);
    const requestId = answer.headers['x-request-id'];
    expect(typeof requestId, `x-request-id of ${spec.method ?? 'GET'} ${spec.path}`).toBe('string');
    const accessToken = typeof answer.json.access_token === 'string' ? answer.json.access_token : undefined;
    if (accessToken) tokens.add(accessToken);
    if (spec.path === '/token' && spec.method === 'POST') {
      decisions.push({ requestId: requestId as string, status: answer.status, check: answer.json.check, jti: accessToken && (decodeJwt(accessToken).jti as string) });
    }
    return answer;
  }

  async function verifyMinted(accessToken: string) {
    const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', target.broker().url));
    return jwtVerify(accessToken, jwks, { issuer: CONTRACT_ISSUER, audience: 'kubernetes', algorithms: ['ES256'] });
  }

  describe(`the contract on ${target.runtime}`, () => {
    it('answers /healthz and /readyz 200, and serves discovery naming the issuer', async () => {
      expect((await send(target.broker().url, { path: '/healthz' })).status).toBe(200);
      const ready = await send(target.broker().url, { path: '/readyz' });
      expect(ready.status).toBe(200);
      expect(ready.json).toMatchObject({ status: 'ready', checks: { audit: { status: 'ok' } } });
      const discovery = await send(target.broker().url, { path: '/.well-known/openid-configuration' });
      expect(discovery.json).toMatchObject({ issuer: CONTRACT_ISSUER, jwks_uri: `${CONTRACT_ISSUER}/.well-known/jwks.json` });
    });

    it('exchanges a GitHub-shaped token for a cluster JWT that verifies against its JWKS', async () => {
      const answer = await call(token({ subject_token: await tools.github(), requested_ttl: '300' }));
      expect(answer.status).toBe(200);
      expect(answer.headers['cache-control']).toBe('no-store');
      expect(answer.json).toMatchObject({ issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_type: 'Bearer', expires_in: 300, scope: 'argo:submit argo:read', namespace: 'ci' });
      const { payload, protectedHeader } = await verifyMinted(answer.json.access_token);
      expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'JWT' });
      expect(payload).toMatchObject({ iss: CONTRACT_ISSUER, aud: 'kubernetes', sub: 'github:repo:acme/app:ref:refs/heads/main', groups: ['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read'], namespace: 'ci' });
      expect(payload.exp! - payload.iat!).toBe(300);
    });

    it('exchanges a real OpenID Provider\'s (Keycloak-shaped) access token, carrying only the claims the contract names', async () => {
      const { keycloak } = target.idps();
      const subjectToken = await keycloak.accessToken();
      tokens.add(subjectToken);
      const answer = await call(token({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE }));
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ expires_in: 600, scope: 'argo:manage', namespace: 'platform' });
      const { payload } = await verifyMinted(answer.json.access_token);
      expect(payload).toMatchObject({
        sub: `keycloak:${keycloak.clientId}`, groups: ['argo-sts:platform:argo:manage'],
        preferred_username: keycloak.mappedClaims.preferred_username, email: keycloak.mappedClaims.email,
      });
      expect(Object.keys(payload).sort()).toEqual(['aud', 'email', 'email_verified', 'exp', 'groups', 'iat', 'iss', 'jti', 'namespace', 'nbf', 'preferred_username', 'scope', 'sub']);
    });

    it('refuses that provider\'s token issued for another resource: 400 invalid_request (check audience)', async () => {
      const subjectToken = await target.idps().keycloak.accessToken('https://other.example');
      tokens.add(subjectToken);
      const answer = await call(token({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE }));
      expect({ status: answer.status, error: answer.json.error, check: answer.json.check }).toEqual({ status: 400, error: 'invalid_request', check: 'audience' });
    });

    for (const [group, cases] of [['refuses', REFUSALS], ['refuses hostile input:', HOSTILE]] as const) {
      for (const testCase of cases) {
        const { status, error, check } = testCase.expected;
        it(`${group} ${testCase.name}: ${status} ${error} (check ${check})`, async () => {
          const answer = await call(await testCase.request(tools));
          expect({ status: answer.status, error: answer.json.error, check: answer.json.check }).toEqual(testCase.expected);
          expect(answer.headers['cache-control']).toBe('no-store');
          expect(answer.json.request_id).toBe(answer.headers['x-request-id']);
          expect(answer.json.access_token).toBeUndefined();
        });
      }
    }

    it('diagnoses a genuine token: verdict issue, every check in order, all pass', async () => {
      const answer = await call({ method: 'POST', path: '/diagnose', headers: form, body: exchangeBody({ subject_token: await tools.github() }) });
      expect(answer.status).toBe(200);
      expect(answer.json.verdict).toBe('issue');
      expect(answer.json.checks.map((c: { check: string }) => c.check)).toEqual([...CHECK_IDS]);
      expect(answer.json.checks.every((c: { status: string }) => c.status === 'pass')).toBe(true);
      expect(answer.json.access_token).toBeUndefined();
    });

    it('diagnoses an expired token: deny, expiry fails with how far past exp and the leeway', async () => {
      const answer = await call({ method: 'POST', path: '/diagnose', headers: form, body: exchangeBody({ subject_token: await tools.github({ iat: nowSeconds() - 3900, exp: nowSeconds() - 3600 }) }) });
      expect(answer.status).toBe(200);
      expect(answer.json.verdict).toBe('deny');
      const expiry = answer.json.checks.find((c: { check: string }) => c.check === 'expiry');
      expect(expiry).toMatchObject({ status: 'fail', leeway_seconds: 60 });
      expect(expiry.seconds).toBeGreaterThanOrEqual(3600);
    });

    it('answers an unparseable /diagnose body 400 invalid_request', async () => {
      const answer = await call({ method: 'POST', path: '/diagnose', headers: { 'content-type': 'text/plain' }, body: 'hello' });
      expect({ status: answer.status, error: answer.json.error }).toEqual({ status: 400, error: 'invalid_request' });
    });

    it('exchanges a single-use token once: the replay is 400 invalid_request (check format)', async () => {
      const once = await tools.runner('job:once');
      expect((await call(token({ subject_token: once }))).status).toBe(200);
      const replay = await call(token({ subject_token: once }));
      expect({ status: replay.status, error: replay.json.error, check: replay.json.check }).toEqual({ status: 400, error: 'invalid_request', check: 'format' });
    });

    it(`rate-limits a subject past ${RUNNER_REQUESTS_PER_HOUR} an hour: 429 temporarily_unavailable (check rate_limit) with Retry-After`, async () => {
      for (let i = 0; i < RUNNER_REQUESTS_PER_HOUR; i++) expect((await call(token({ subject_token: await tools.runner('job:busy') }))).status).toBe(200);
      const limited = await call(token({ subject_token: await tools.runner('job:busy') }));
      expect({ status: limited.status, error: limited.json.error, check: limited.json.check }).toEqual({ status: 429, error: 'temporarily_unavailable', check: 'rate_limit' });
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Another subject of the same idp has its own bucket.
      expect((await call(token({ subject_token: await tools.runner('job:quiet') }))).status).toBe(200);
    });

    it('records the address it saw, not a CF-Connecting-IP header, on Node; under wrangler dev the header is the address', async () => {
      const answer = await call({ ...token({ subject_token: await tools.github() }), headers: { ...form, 'cf-connecting-ip': '203.0.113.7' } });
      const rows = await auditRowsFor(answer.headers['x-request-id'] as string);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.client_ip).toBe(target.runtime === 'node' ? '127.0.0.1' : '203.0.113.7');
    });

    it('writes one durable audit row per /token decision, with its decision and check, and one per issued jti', async () => {
      expect(decisions.some((d) => d.status === 200) && decisions.some((d) => d.status === 400)).toBe(true);
      for (const decision of decisions) {
        const rows = await auditRowsFor(decision.requestId);
        expect(rows, `audit rows for ${decision.requestId}`).toHaveLength(1);
        const row = rows[0]!;
        expect(row.endpoint).toBe('token');
        if (decision.status === 200) {
          expect(row).toMatchObject({ decision: 'issued', jti: decision.jti });
          expect(target.broker().auditRows('jti', decision.jti!).map((r) => r.request_id)).toEqual([decision.requestId]);
        } else {
          expect(row).toMatchObject({ decision: 'denied', check_id: decision.check, jti: null });
        }
      }
    });

    it('never writes a subject token or an issued token to its logs', () => {
      expect(tokens.size).toBeGreaterThan(2);
      const output = target.broker().output();
      for (const t of tokens) {
        const signingInput = t.split('.').slice(0, 2).join('.');
        expect(output.filter((line) => line.includes(t) || (signingInput.length > 40 && line.includes(signingInput))), 'log lines containing a token').toEqual([]);
      }
    });
  });

  /** Rows for a request id; the write has committed before the answer, but give a slow disk a moment. */
  async function auditRowsFor(requestId: string): Promise<Record<string, unknown>[]> {
    for (let i = 0; ; i++) {
      const rows = target.broker().auditRows('request_id', requestId);
      if (rows.length > 0 || i >= 50) return rows;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
