/** How the target issuers read their upstream's answers, with canned responses. */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { type TargetConfig } from '../../shared/config/schema.ts';
import { StsError, toWireError } from '../../shared/errors.ts';
import { EntraRefusal, entraIssuer, type EntraTokenClient } from '../../shared/targets/entra.ts';
import type { CredentialRequest } from '../../shared/targets/issue-credential.ts';
import { buildTokenRequest, processTokenRequestResponse } from '../../shared/targets/kubernetes-tokenrequest.ts';

const NOW = 1_790_000_000;
const config = parseConfigText(`
issuer: https://sts.example.com
signing: { keys: generate }
idps: [{ name: entra, issuer: https://login.microsoftonline.com/t/v2.0, audiences: [app] }]
targets:
  - { name: legacy, kind: kubernetes-tokenrequest, api_server: "https://k8s.example.com:6443/", credentials: env:T, audiences: [a, b] }
  - { name: aks, kind: entra-obo, tenant_id: t, client_id: app, client_secret: env:S }
policies:
  - { id: p, idp: entra, target: [legacy, aks], subject: u, namespaces: [ci], scopes: [argo:read], service_account: sa }
`);
const legacy = config.targets[0] as Extract<TargetConfig, { kind: 'kubernetes-tokenrequest' }>;
const ctx = (warnings: string[] = []) => ({ target: legacy, namespace: 'ci', serviceAccount: 'sa', now: NOW, warn: (m: string) => warnings.push(m) });
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

async function refusal(promise: Promise<unknown>): Promise<StsError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StsError);
  return err as StsError;
}

describe('the TokenRequest call', () => {
  it('posts an authentication.k8s.io/v1 TokenRequest with the audiences and at least 600 s', async () => {
    const { url, init } = buildTokenRequest(legacy, { namespace: 'ci', serviceAccount: 'sa', ttl: 120, bearerToken: 'tok' });
    expect(url).toBe('https://k8s.example.com:6443/api/v1/namespaces/ci/serviceaccounts/sa/token');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>).authorization).toBe('Bearer tok');
    expect(JSON.parse(init.body as string)).toEqual({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['a', 'b'], expirationSeconds: 600 } });
  });

  it('reports the lifetime from status.expirationTimestamp', async () => {
    const res = json(201, { status: { token: 'sa-token', expirationTimestamp: new Date((NOW + 1234) * 1000).toISOString() } });
    expect(await processTokenRequestResponse(res, ctx())).toEqual({ token: 'sa-token', expiresIn: 1234 });
  });

  it.each([
    ['not JSON', new Response('<html>', { status: 201 }), /not JSON/],
    ['no token', json(201, { status: { expirationTimestamp: '2026-01-01T00:00:00Z' } }), /without a token or expiry/],
    ['an unparseable expiry', json(201, { status: { token: 't', expirationTimestamp: 'tomorrow' } }), /without a token or expiry/],
    ['an expiry in the past', json(201, { status: { token: 't', expirationTimestamp: new Date((NOW - 5) * 1000).toISOString() } }), /already expired/],
    ['a body over 64 KiB', new Response('x'.repeat(70 * 1024), { status: 201 }), /oversized/],
  ])('answers 503 for a success with %s', async (_what, res, message) => {
    const err = await refusal(processTokenRequestResponse(res, ctx()));
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(err.message).toMatch(message);
  });

  it('answers 503 for a server error and logs its status and reason', async () => {
    const warnings: string[] = [];
    const err = await refusal(processTokenRequestResponse(json(500, { kind: 'Status', reason: 'InternalError', code: 500 }), ctx(warnings)));
    expect(err.message).toBe('the cluster could not issue a token (HTTP 500); try again later');
    expect(warnings).toEqual(['argo-sts: target "legacy": TokenRequest for ci/sa answered 500 InternalError']);
  });

  it('logs a 422 as misconfiguration', async () => {
    const warnings: string[] = [];
    await refusal(processTokenRequestResponse(json(422, { kind: 'Status', reason: 'Invalid', code: 422 }), ctx(warnings)));
    expect(warnings[0]).toMatch(/misconfigured: the API server refused the TokenRequest for ci\/sa \(422 Invalid\)/);
  });
});

describe('the Entra issuer', () => {
  const request = (target: TargetConfig) => ({ target, now: NOW, subjectToken: 'user-assertion' }) as unknown as CredentialRequest;
  const client = (result: () => Promise<{ accessToken: string; expiresOn: number }>): EntraTokenClient => ({ onBehalfOf: result, clientCredentials: result });

  it('reports the lifetime Entra granted', async () => {
    const issuer = entraIssuer(new Map([['aks', client(async () => ({ accessToken: 'aks', expiresOn: NOW + 4000 }))]]), () => {});
    expect(await issuer.issue(request(config.targets[1]!))).toEqual({ token: 'aks', expiresIn: 4000 });
  });

  it.each([
    ['temporarily_unavailable', 'ERR_UPSTREAM_UNAVAILABLE', 503],
    ['invalid_grant', 'ERR_UPSTREAM_REFUSED', 400],
    ['interaction_required', 'ERR_UPSTREAM_REFUSED', 400],
    ['invalid_client', 'ERR_UPSTREAM_UNAVAILABLE', 503],
  ])('maps Entra error %s to %s (HTTP %i)', async (error, code, status) => {
    const warnings: string[] = [];
    const issuer = entraIssuer(new Map([['aks', client(async () => {
      throw new EntraRefusal(error, 'AADSTS50000');
    })]]), (m) => warnings.push(m));
    const err = await refusal(issuer.issue(request(config.targets[1]!)));
    expect(err.code).toBe(code);
    expect(toWireError(err, 'r').status).toBe(status);
    expect(err.message).not.toContain('user-assertion');
  });

  it('answers 503 when Entra cannot be reached', async () => {
    const issuer = entraIssuer(new Map([['aks', client(async () => {
      throw new TypeError('fetch failed');
    })]]), () => {});
    const err = await refusal(issuer.issue(request(config.targets[1]!)));
    expect(err).toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE', message: 'Entra ID cannot be reached; try again later' });
  });
});
