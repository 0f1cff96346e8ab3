/** POST /token: RFC 8693 token exchange. */
import { Hono } from 'hono';
import { StsError } from '../../../shared/errors.ts';
import { exchangeToken } from '../../../shared/exchange/exchange-token.ts';
import { decodeParameters, readBodyCapped, readChunksCapped } from '../../../shared/exchange/token-request.ts';
import type { AppEnv } from '../app-env.ts';

export const tokenRoutes = new Hono<AppEnv>();

tokenRoutes.post('/token', async (c) => {
  const runtime = c.get('runtime');
  const broker = await runtime.broker(c);
  const chunks = runtime.requestBody?.(c);
  const header = (name: string) => (runtime.requestHeader ? runtime.requestHeader(c, name) : c.req.header(name));
  const response = await exchangeToken(
    broker,
    async () => decodeParameters(header('content-type') ?? null, await (chunks ? readChunksCapped(chunks) : readBodyCapped(c.req.raw))),
    { requestId: c.get('requestId'), clientIp: runtime.clientIp(c), userAgent: header('user-agent') },
  );
  return c.json(response, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
});

tokenRoutes.on(['GET', 'PUT', 'PATCH', 'DELETE'], '/token', (c) => {
  c.header('Allow', 'POST');
  throw new StsError('ERR_REQUEST_MALFORMED', 'the token endpoint accepts POST only');
});
