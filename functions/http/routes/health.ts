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
  const failing = Object.keys(jwksFailures).length;
  // An unauthenticated endpoint: codes and counts only. The details (secret references, paths,
  // AWS error names, IdP URLs) are written to stderr where the failure happens.
  const { last_error: _detail, ...keyState } = keyHealth ?? {};
  const body = {
    status: !audit ? 'unavailable' : degraded ? 'degraded' : 'ready',
    checks: {
      // A failed key refresh keeps the last good keys: degraded, still serving.
      signing_keys: {
        status: keysDegraded ? 'degraded' : 'ok', kid: broker.signingKeys.kid, ephemeral: broker.signingKeys.ephemeral, ...keyState,
        ...(keysDegraded && { error: 'ERR_SIGNING_KEYS' }),
      },
      audit: { status: audit ? 'ok' : 'failing', ...(!audit && { error: 'ERR_AUDIT_UNAVAILABLE' }) },
      idp_keys: { status: failing > 0 ? 'degraded' : 'ok', failing, ...(failing > 0 && { error: 'ERR_KEYS_UNAVAILABLE' }) },
    },
  };
  return c.json(body, audit ? 200 : 503, { 'Cache-Control': 'no-store' });
});
