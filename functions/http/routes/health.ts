/** Liveness and readiness. */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';

export const healthRoutes = new Hono<AppEnv>();

healthRoutes.get('/healthz', (c) => c.json({ status: 'ok' }));

healthRoutes.get('/readyz', async (c) => {
  const broker = await c.get('runtime').broker(c);
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
