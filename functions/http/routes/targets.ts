/**
 * GET /targets: what a client needs to use a credential, and nothing secret — each target's name
 * (what clients send as `audience`), its kind, and its Argo Server URL when configured. The CLI
 * reads it to fill ARGO_SERVER. Cluster API servers, credentials and policies are not listed.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';

export const targetsRoutes = new Hono<AppEnv>();

targetsRoutes.get('/targets', async (c) => {
  const broker = await c.get('runtime').broker(c);
  const targets = broker.config.targets.map((target) => ({
    name: target.name,
    kind: target.kind,
    ...('argo_server' in target && target.argo_server ? { argo_server: target.argo_server } : {}),
  }));
  return c.json({ targets }, 200, { 'Cache-Control': 'public, max-age=300' });
});
