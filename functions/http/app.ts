/**
 * The HTTP shape of argo-sts, shared by both runtimes: routes, request ids and the one error
 * boundary. Runtime specifics (where config, keys and the audit sink come from; the client's
 * address) arrive through `AppRuntime`.
 */
import { Hono } from 'hono';
import { StsError, toWireError } from '../../shared/errors.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { diagnoseRoutes } from './routes/diagnose.ts';
import { diagnoseClusterRoutes } from './routes/diagnose-cluster.ts';
import { healthRoutes } from './routes/health.ts';
import { targetsRoutes } from './routes/targets.ts';
import { tokenRoutes } from './routes/token.ts';
import { wellKnownRoutes } from './routes/well-known.ts';
import type { AppEnv, AppRuntime } from './app-env.ts';

export function createApp(runtime: AppRuntime): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const requestId = crypto.randomUUID();
    c.set('requestId', requestId);
    c.set('runtime', runtime);
    // Set before the handler runs, so c.json and friends build the response with it. c.header()
    // on a finished response would rebuild it, and on Node that turns @hono/node-server's
    // lightweight response into an undici Response whose body is streamed out.
    c.header('X-Request-Id', requestId);
    await next();
    if (!c.res.headers.has('X-Request-Id')) c.header('X-Request-Id', requestId);
  });

  app.route('/', tokenRoutes);
  app.route('/', wellKnownRoutes);
  app.route('/', healthRoutes);
  app.route('/', targetsRoutes);
  app.route('/', diagnoseRoutes);
  app.route('/', diagnoseClusterRoutes);
  app.route('/', approvalRoutes);

  app.notFound((c) => c.json({ error: 'not_found', error_description: `no route for ${c.req.method} ${c.req.path}` }, 404));

  // The one error boundary: StsErrors become RFC 6749 errors; anything else is a bare 500, logged.
  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? crypto.randomUUID();
    if (!(err instanceof StsError) || err.code === 'ERR_INTERNAL') {
      runtime.logError(`unexpected error (request_id ${requestId})`, err);
    }
    const wire = toWireError(err, requestId);
    return c.json(wire.body, wire.status as 400, { ...wire.headers, 'X-Request-Id': requestId });
  });
  return app;
}
