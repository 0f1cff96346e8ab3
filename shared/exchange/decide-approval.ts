/**
 * An approver's decision on a pending approval (POST /approvals/<id>): their own IdP token is
 * verified like a subject token, must match one of the policy's `approval.approvers` (the same
 * clauses as a delegation actor), and must not be the requester's or the actor's. Decided once;
 * audited (endpoint `approval`, decision `approved` or `denied`), durable first.
 */
import type { Broker } from '../broker/broker.ts';
import { failureFields, startAuditEvent } from '../audit/audit-event.ts';
import { findingError } from '../checks.ts';
import { StsError } from '../errors.ts';
import { identityMismatches } from '../policy/evaluate-policy.ts';
import { verifyToken } from '../verify/verify-subject-token.ts';
import { type ApprovalRecord, approverProblem, isApprovalId } from './approvals.ts';
import type { RequestContext } from './exchange-token.ts';
import { REQUEST_LIMITS } from './token-request.ts';

export interface ApprovalDecision {
  readonly approval_id: string;
  readonly status: 'approved' | 'denied';
}

/** The approval a page or a CLI shows; unknown ids are 404. */
export async function findApproval(broker: Pick<Broker, 'approvals'>, id: string): Promise<ApprovalRecord> {
  const record = isApprovalId(id) ? await broker.approvals.get(id) : undefined;
  if (!record) throw new StsError('ERR_APPROVAL_NOT_FOUND', 'no such approval');
  return record;
}

export async function decideApproval(broker: Broker, id: string, form: URLSearchParams, ctx: RequestContext): Promise<ApprovalDecision> {
  const started = broker.clock();
  const event = startAuditEvent('approval', 'denied', ctx, started);
  event.approval_id = isApprovalId(id) ? id : undefined;
  let decided = false;
  try {
    const decision = form.get('decision');
    if (decision !== 'approve' && decision !== 'deny') throw new StsError('ERR_REQUEST_MALFORMED', 'decision must be approve or deny');
    const token = form.get('subject_token') ?? '';
    if (token === '') throw new StsError('ERR_REQUEST_MALFORMED', "subject_token (the approver's own IdP token) is required");
    if (token.length > REQUEST_LIMITS.maxTokenBytes) throw new StsError('ERR_REQUEST_TOO_LARGE', `subject_token exceeds ${REQUEST_LIMITS.maxTokenBytes} bytes`);
    event.subject_token_sha256 = await broker.crypto.sha256Hex(token);
    const record = await findApproval(broker, id);
    Object.assign(event, { policy: record.policy, target: record.target, namespace: record.namespace, scopes: record.scopes, request_reason: record.reason });

    const now = Math.floor(started / 1000);
    const approver = await verifyToken(token, { idps: broker.config.idps, keys: broker.issuerKeys, crypto: broker.crypto, now });
    if ('failure' in approver) throw findingError(approver.failure);
    Object.assign(event, { idp: approver.idp.name, iss: approver.claims.iss, sub: approver.claims.sub });
    await broker.rateLimits.enforce(approver.idp, approver.claims.sub, started);

    const rule = broker.config.policies.find((p) => p.id === record.policy)?.approval;
    const matches = rule?.approvers.some((m) => identityMismatches(m, approver.idp.name, approver.claims).length === 0) ?? false;
    const problem = approverProblem(record, `${approver.idp.name}:${approver.claims.sub}`, matches);
    if (problem) throw new StsError('ERR_APPROVER_NOT_ALLOWED', problem);
    if (now >= record.expires_at) throw new StsError('ERR_APPROVAL_EXPIRED', 'the approval request expired');
    const status = decision === 'approve' ? 'approved' : 'denied';
    if (!(await broker.approvals.decide(record.id, status, `${approver.idp.name}:${approver.claims.sub}`, now))) {
      throw new StsError('ERR_APPROVAL_USED', 'this approval was already decided');
    }
    decided = true;
    Object.assign(event, { decision: status === 'approved' ? 'approved' : 'denied', reason: `the approver ${status} the request of ${record.requester}`, latency_ms: broker.clock() - started });
    await broker.audit.record(event);
    return { approval_id: record.id, status };
  } catch (err) {
    if (decided) throw err; // the audit write itself failed; already logged
    Object.assign(event, { decision: 'denied', ...failureFields(err), latency_ms: broker.clock() - started });
    await broker.audit.recordDenial(event);
    throw err;
  }
}
