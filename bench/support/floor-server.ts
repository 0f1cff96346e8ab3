/**
 * The HTTP floor: what answering the exchange's request costs with no exchange in it. Reads the
 * same form body and answers a token-shaped JSON of the same size, either on bare node:http or
 * through Hono on @hono/node-server (argo-sts's own stack), in its own pinned process. Prints one
 * JSON line with its URL.
 *
 *   node bench/support/floor-server.ts node-http|hono
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const ANSWER = JSON.stringify({
  access_token: `eyJ${'x'.repeat(600)}`,
  issued_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  token_type: 'Bearer',
  expires_in: 600,
  scope: 'argo:submit argo:read',
  namespace: 'ci',
});

const mode = process.argv[2];
let server: Server;
if (mode === 'node-http') {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('subject_token');
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(ANSWER);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
} else if (mode === 'hono') {
  const app = new Hono().post('/token', async (c) => {
    void new URLSearchParams(await c.req.text()).get('subject_token');
    c.header('cache-control', 'no-store');
    return c.body(ANSWER, 200, { 'content-type': 'application/json' });
  });
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server));
  });
} else {
  throw new Error('usage: floor-server.ts node-http|hono');
}
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token` })}\n`);
process.once('SIGTERM', () => server.close(() => process.exit(0)));
