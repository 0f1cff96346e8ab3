/**
 * A Worker cannot refuse to start, so a config that does not load is answered instead, in real
 * workerd: /readyz 503 with the StartupError code, every endpoint that needs the broker 503
 * `temporarily_unavailable` (check `config`), /healthz 200 (liveness), and the reason logged once
 * per isolate, never on the wire.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import worker from '../../functions/worker.ts';
import { resetBrokerForEnv } from '../../functions/worker/broker-for-env.ts';

const BROKEN = `
issuer: https://sts.workers.test
signing: { alg: ES256, keys: generate }
idps:
  - { name: github, issuer: https://token.actions.githubusercontent.com, audiences: [argo-sts], preset: github-actions }
targets:
  - { name: argo-prod, kind: kubernetes-oidc, audience: kubernetes }
policies:
  - { id: ci, idp: github, target: argo-nowhere, subject: "repo:acme/app:ref:refs/heads/main", namespaces: [ci], scopes: [argo:read] }
`;
const UNSET_SECRET = BROKEN.replace('argo-nowhere', 'argo-prod').replace('keys: generate', 'keys: env:ARGO_STS_TEST_UNSET');

async function call(env: Record<string, unknown>, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`https://sts.workers.test${path}`, init), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const tokenRequest = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=x' };

afterEach(() => {
  resetBrokerForEnv();
  vi.restoreAllMocks();
});

describe('the Worker with a config that does not load', () => {
  it('answers /readyz 503 with ERR_CONFIG and nothing of the reason', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await call({ ARGO_STS_CONFIG: BROKEN }, '/readyz');
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: 'unavailable', error: 'ERR_CONFIG', checks: { config: { status: 'failing', code: 'ERR_CONFIG' } } });
    expect(text).not.toContain('argo-nowhere');
  });

  it('answers /token, /diagnose, discovery, JWKS and /targets 503 temporarily_unavailable with check config', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const env = { ARGO_STS_CONFIG: BROKEN };
    const calls: [string, RequestInit?][] = [
      ['/token', tokenRequest], ['/diagnose', tokenRequest], ['/.well-known/openid-configuration'], ['/.well-known/jwks.json'], ['/targets'],
    ];
    for (const [path, init] of calls) {
      const res = await call(env, path, init);
      const text = await res.text();
      expect({ path, status: res.status }).toEqual({ path, status: 503 });
      expect(JSON.parse(text)).toMatchObject({ error: 'temporarily_unavailable', check: 'config' });
      expect(text).not.toContain('argo-nowhere');
    }
  });

  it('keeps /healthz 200: liveness, which a restart would not change', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    expect((await call({ ARGO_STS_CONFIG: BROKEN }, '/healthz')).status).toBe(200);
  });

  it('logs the reason, with its path, once per isolate however many requests arrive', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const env = { ARGO_STS_CONFIG: BROKEN };
    for (let i = 0; i < 3; i++) await call(env, '/token', tokenRequest);
    await call(env, '/readyz');
    const lines = errors.mock.calls.map((args) => args.join(' '));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ERR_CONFIG');
    expect(lines[0]).toContain('policies[0].target');
  });

  it('answers ARGO_STS_CONFIG unset the same way (ERR_CONFIG)', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await call({}, '/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'ERR_CONFIG' });
  });

  it('names an unset signing-key secret ERR_SECRET on /readyz', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await call({ ARGO_STS_CONFIG: UNSET_SECRET }, '/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'ERR_SECRET', checks: { config: { code: 'ERR_SECRET' } } });
    const token = await call({ ARGO_STS_CONFIG: UNSET_SECRET }, '/token', tokenRequest);
    expect(await token.json()).toMatchObject({ error: 'temporarily_unavailable', check: 'config' });
  });

  it('names an audit sink without its D1 binding ERR_CONFIG', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await call({ ARGO_STS_CONFIG: `${UNSET_SECRET.replace('env:ARGO_STS_TEST_UNSET', 'generate')}audit: { sink: d1:NO_SUCH_DB }\n` }, '/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'ERR_CONFIG' });
  });
});
