/** Liveness and readiness. */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';
import { StartupError } from '../../../shared/errors.ts';

export const healthRoutes = new Hono<AppEnv>();

healthRoutes.get('/healthz', (c) => c.json({ status: 'ok' }));

healthRoutes.get('/readyz', async (c) => {
  let broker;
  try {
    broker = await c.get('runtime').broker(c);
  } catch (err) {
    // Not built (Workers builds on a request): not ready, with the start-up code; details go to the log.
    if (!(err instanceof StartupError)) throw err;
    c.get('runtime').logError(`not ready: ${err.code}`, err);
    return c.json({ status: 'unavailable', error: err.code }, 503, { 'Cache-Control': 'no-store' });
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
