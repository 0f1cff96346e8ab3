/**
 * POST /diagnose as a request: the per-client budget, the body, the diagnosis and its one audit
 * event (hashed with the broker's crypto port, as /token hashes). Never issues.
 */
import { AUDIT_TEXT_MAX, failureFields, startAuditEvent } from '../audit/audit-event.ts';
import type { RequestContext } from '../exchange/exchange-token.ts';
import type { Broker } from '../broker/broker.ts';
import type { RawParameters } from '../exchange/token-request.ts';
import type { Diagnosis } from './diagnosis.ts';
import { diagnose } from './diagnose.ts';

/** POST /diagnose end to end: read the body, diagnose, audit one event. An unreadable body throws (400). */
export async function runDiagnosis(broker: Broker, readParameters: () => Promise<RawParameters>, ctx: RequestContext): Promise<Diagnosis> {
  const started = broker.clock();
  const event = startAuditEvent('diagnose', 'diagnosed', ctx, started);
  try {
    await broker.rateLimits.enforceClient(broker.config.rate_limit?.per_client_ip, ctx.clientIp, started);
    const params = await readParameters();
    if (params.subject_token) event.subject_token_sha256 = await broker.crypto.sha256Hex(params.subject_token);
    const { diagnosis, audit } = await diagnose({ ...broker, ownKeys: broker.signingKeys.jwks }, params, ctx.requestId);
    const failure = diagnosis.checks.find((c) => c.status === 'fail');
    Object.assign(event, audit, {
      check: failure?.check ?? (diagnosis.request_problems ? 'request' : undefined),
      reason: failure?.message ?? diagnosis.request_problems?.[0]?.message,
      latency_ms: broker.clock() - started,
    });
    event.reason = event.reason?.slice(0, AUDIT_TEXT_MAX);
    await broker.audit.recordDenial(event);
    return diagnosis;
  } catch (err) {
    Object.assign(event, { ...failureFields(err), latency_ms: broker.clock() - started });
    await broker.audit.recordDenial(event);
    throw err;
  }
}
