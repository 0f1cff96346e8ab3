/**
 * Liveness and readiness. /healthz is liveness only: 200 while the process or isolate answers,
 * whatever its config (restarting it would not fix a config). /readyz says whether it can serve.
 */
import { Hono } from 'hono';
import { StartupError, StsError } from '../../../shared/errors.ts';
import type { Broker } from '../../../shared/broker/broker.ts';
import type { AppEnv } from '../app-env.ts';

export const healthRoutes = new Hono<AppEnv>();

healthRoutes.get('/healthz', (c) => c.json({ status: 'ok' }));

healthRoutes.get('/readyz', async (c) => {
  let broker: Broker;
  try {
    broker = await c.get('runtime').broker(c);
  } catch (err) {
    // Workers: a config, secret, key or target that does not load. The code only; the reason is in the logs.
    if (!(err instanceof StsError && err.code === 'ERR_NOT_CONFIGURED')) throw err;
    const code = err.cause instanceof StartupError ? err.cause.code : 'ERR_CONFIG';
    return c.json({ status: 'unavailable', error: code, checks: { config: { status: 'failing', code } } }, 503, { 'Cache-Control': 'no-store' });
  }
  const audit = await broker.audit.healthy();
  const jwksFailures = broker.issuerKeys.failures();
  const keyHealth = broker.signingKeys.health?.();
  const keysDegraded = keyHealth?.status === 'degraded';
  const degraded = Object.keys(jwksFailures).length > 0 || keysDegraded;
  const body = {
    status: !audit ? 'unavailable' : degraded ? 'degraded' : 'ready',
    checks: {
      // A failed key refresh keeps the last good keys: degraded, still serving.
      signing_keys: { status: keysDegraded ? 'degraded' : 'ok', kid: broker.signingKeys.kid, ephemeral: broker.signingKeys.ephemeral, ...keyHealth },
      audit: { status: audit ? 'ok' : 'failing' },
      idp_keys: { status: Object.keys(jwksFailures).length > 0 ? 'degraded' : 'ok', failing_issuers: Object.keys(jwksFailures) },
    },
  };
  return c.json(body, audit ? 200 : 503, { 'Cache-Control': 'no-store' });
});
