/**
 * A Worker cannot refuse to start, so a config that does not load is answered instead, in real
 * workerd: /readyz 503 with the StartupError code, every endpoint that needs the broker 503
 * `temporarily_unavailable` (check `config`), /healthz 200 (liveness), and the reason logged once
 * per isolate, never on the wire.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import worker from '../../functions/worker.ts';
import { brokerForEnv, resetBrokerForEnv, RETRY_FAILED_BUILD_MS } from '../../functions/worker/broker-for-env.ts';
import { StsError } from '../../shared/errors.ts';
import { generatePrivateJwks } from '../../shared/keys/signing-keys.ts';
import { minimalConfig } from '../support/configs.ts';

const BROKEN = minimalConfig({ policyTarget: 'argo-nowhere' });
const UNSET_SECRET = minimalConfig({ keys: 'env:ARGO_STS_TEST_UNSET' });

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

  it('answers /token, /diagnose, /diagnose/cluster, discovery, JWKS and /targets 503 temporarily_unavailable with check config', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const env = { ARGO_STS_CONFIG: BROKEN };
    const calls: [string, RequestInit?][] = [
      ['/token', tokenRequest], ['/diagnose', tokenRequest], ['/diagnose/cluster', tokenRequest],
      ['/.well-known/openid-configuration'], ['/.well-known/jwks.json'], ['/targets'],
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

  it('names an audit sink without its D1 binding ERR_AUDIT_SINK', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await call({ ARGO_STS_CONFIG: minimalConfig({ audit: 'd1:NO_SUCH_DB' }) }, '/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'ERR_AUDIT_SINK' });
  });

  it(`retries a build that failed on a secret after ${RETRY_FAILED_BUILD_MS / 1000} s, not before`, async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const t0 = 1_790_000_000_000;
    const unset = { ARGO_STS_CONFIG: UNSET_SECRET };
    const set = { ...unset, ARGO_STS_TEST_UNSET: JSON.stringify(await generatePrivateJwks('ES256')) };
    await expect(brokerForEnv(unset, t0)).rejects.toMatchObject({ code: 'ERR_NOT_CONFIGURED' });
    // The secret appears (a Worker secret put, say): answered from memory until the retry is due.
    await expect(brokerForEnv(set, t0 + RETRY_FAILED_BUILD_MS - 1)).rejects.toBeInstanceOf(StsError);
    const broker = await brokerForEnv(set, t0 + RETRY_FAILED_BUILD_MS);
    expect(broker.config.issuer).toBe('https://sts.example.com');
  });
});
