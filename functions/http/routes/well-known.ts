/** Discovery and public keys, at the root and under the issuer's path. */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { openidConfiguration, wellKnownPaths } from '../../../shared/keys/discovery.ts';
import type { AppEnv } from '../app-env.ts';

export const wellKnownRoutes = new Hono<AppEnv>();

const CACHE = 'public, max-age=300';

async function serveWellKnown(c: Context<AppEnv>, name: string) {
  const broker = await c.get('runtime').broker(c);
  if (!wellKnownPaths(broker.config, name).includes(c.req.path)) return c.notFound();
  const body = name === 'jwks.json' ? broker.signingKeys.jwks : openidConfiguration(broker.config);
  return c.json(body, 200, { 'Cache-Control': CACHE });
}

for (const name of ['openid-configuration', 'jwks.json']) {
  wellKnownRoutes.get(`/.well-known/${name}`, (c) => serveWellKnown(c, name));
  wellKnownRoutes.get(`/:prefix{.+}/.well-known/${name}`, (c) => serveWellKnown(c, name));
  wellKnownRoutes.get(`//.well-known/${name}`, (c) => serveWellKnown(c, name));
}
