/**
 * A Worker deployed without what its config names (the D1 binding of `audit.sink: d1:NAME`)
 * answers /readyz 503 with a stable code, and /token 503 temporarily_unavailable: a deployment
 * error, never a 500, and no internal text on the wire.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../functions/worker.ts';
import { idTokenExchangeForm } from '../support/token-requests.ts';

const bindings = env as unknown as Record<string, unknown> & { ARGO_STS_CONFIG: string };

async function call(path: string, init: RequestInit, workerEnv: Record<string, unknown>): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`https://sts.workers.test${path}`, init), workerEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe('a Worker without the D1 binding its audit.sink names', () => {
  const config = JSON.stringify({ ...JSON.parse(bindings.ARGO_STS_CONFIG), audit: { sink: 'd1:MISSING_AUDIT_DB' } });
  const workerEnv = { ...bindings, ARGO_STS_CONFIG: config };

  it('answers /readyz 503 with the code ERR_AUDIT_SINK, naming no binding or path', async () => {
    const res = await call('/readyz', {}, workerEnv);
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'unavailable', error: 'ERR_AUDIT_SINK' });
    expect(JSON.stringify(body)).not.toContain('MISSING_AUDIT_DB');
  });

  it('answers /token 503 temporarily_unavailable (check config), not a 500', async () => {
    const res = await call('/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: idTokenExchangeForm({ subject_token: 'a.b.c' }) }, workerEnv);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable', check: 'config' });
  });
});

describe('wrangler dev on another loopback port', () => {
  const config = (issuer: string) => JSON.stringify({ ...JSON.parse(bindings.ARGO_STS_CONFIG), issuer, audit: {} });

  it('advertises the port it listens on in discovery, not the configured 8787', async () => {
    const moved = await callAt('http://127.0.0.1:8788/.well-known/openid-configuration', { ...bindings, ARGO_STS_CONFIG: config('http://127.0.0.1:8787') });
    expect(moved).toMatchObject({ issuer: 'http://127.0.0.1:8788', jwks_uri: 'http://127.0.0.1:8788/.well-known/jwks.json' });
  });

  it('keeps a public https issuer whatever origin a request names', async () => {
    const body = await callAt('http://127.0.0.1:8788/.well-known/openid-configuration', { ...bindings, ARGO_STS_CONFIG: config('https://sts.workers.test') });
    expect(body).toMatchObject({ issuer: 'https://sts.workers.test' });
  });
});

async function callAt(url: string, workerEnv: Record<string, unknown>): Promise<Record<string, unknown>> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(url), workerEnv, ctx);
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}
