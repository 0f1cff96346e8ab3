/** POST /approvals/<id>: an approver's decision. GET /approvals/<id>: the page (or JSON with Accept: application/json). */
import { Hono } from 'hono';
import { decideApproval, findApproval } from '../../../shared/exchange/decide-approval.ts';
import { readBodyCapped } from '../../../shared/exchange/token-request.ts';
import { StsError } from '../../../shared/errors.ts';
import type { AppEnv } from '../app-env.ts';
import { diagnosePageHeaders, newNonce } from './diagnose-page.ts';
import { approvalView, renderApprovalPage } from './approval-page.ts';

export const approvalRoutes = new Hono<AppEnv>();

approvalRoutes.post('/approvals/:id', async (c) => {
  const runtime = c.get('runtime');
  const broker = await runtime.broker(c);
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new StsError('ERR_REQUEST_MALFORMED', 'content type must be application/x-www-form-urlencoded');
  const form = new URLSearchParams(await readBodyCapped(c.req.raw));
  for (const name of ['decision', 'subject_token']) {
    if (form.getAll(name).length > 1) throw new StsError('ERR_REQUEST_MALFORMED', `parameter ${name} is repeated`);
  }
  const decision = await decideApproval(broker, c.req.param('id'), form, { requestId: c.get('requestId'), clientIp: runtime.clientIp(c), userAgent: c.req.header('user-agent') });
  return c.json(decision, 200, { 'Cache-Control': 'no-store' });
});

approvalRoutes.get('/approvals/:id', async (c) => {
  const broker = await c.get('runtime').broker(c);
  const view = approvalView(await findApproval(broker, c.req.param('id')), Math.floor(broker.clock() / 1000));
  if ((c.req.header('accept') ?? '').includes('application/json')) return c.json(view, 200, { 'Cache-Control': 'no-store' });
  const nonce = newNonce();
  return c.body(renderApprovalPage(nonce, view), 200, diagnosePageHeaders(nonce));
});
