/** POST /diagnose: every check for the same parameters as /token, never a token. GET /diagnose: the page. */
import { Hono } from 'hono';
import { runDiagnosis } from '../../../shared/diagnose/run-diagnosis.ts';
import { StsError } from '../../../shared/errors.ts';
import { decodeParameters, readBodyCapped } from '../../../shared/exchange/token-request.ts';
import type { AppEnv } from '../app-env.ts';
import { diagnosePageHeaders, newNonce, renderDiagnosePage } from './diagnose-page.ts';

export const diagnoseRoutes = new Hono<AppEnv>();

diagnoseRoutes.post('/diagnose', async (c) => {
  const runtime = c.get('runtime');
  const broker = await runtime.broker(c);
  const diagnosis = await runDiagnosis(
    broker,
    async () => decodeParameters(c.req.header('content-type') ?? null, await readBodyCapped(c.req.raw)),
    { requestId: c.get('requestId'), clientIp: runtime.clientIp(c), userAgent: c.req.header('user-agent') },
  );
  return c.json(diagnosis, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
});

diagnoseRoutes.get('/diagnose', (c) => {
  const nonce = newNonce();
  return c.body(renderDiagnosePage(nonce), 200, diagnosePageHeaders(nonce));
});

diagnoseRoutes.on(['PUT', 'PATCH', 'DELETE'], '/diagnose', (c) => {
  c.header('Allow', 'GET, POST');
  throw new StsError('ERR_REQUEST_MALFORMED', 'the diagnose endpoint accepts GET (the page) and POST only');
});
