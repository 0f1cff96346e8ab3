/**
 * Audit events: one per /token decision (issued or denied) and one per /diagnose call. Every
 * event goes to stdout as one JSON line and, when configured, to a durable sink; a token leaves
 * the broker only after its durable record is written. Events never hold a token: only the
 * SHA-256 of the subject token, so a leaked log cannot be replayed.
 */
import type { RedactableField } from '../config/schema.ts';
import { StsError } from '../errors.ts';
import type { Claims } from '../verify/claims.ts';

/**
 * The event schema's version, stamped on every event as `v` and stored with every row. Version 2
 * added `redacted` (the names of fields removed by `audit.redact`); version 3 added
 * `request_reason` (the client's free-text `reason` parameter, e.g. an AI agent's stated purpose).
 * A reader that meets a higher version than it knows should keep the fields it understands and
 * ignore the rest.
 */
export const AUDIT_SCHEMA_VERSION = 3;

export interface AuditEvent {
  readonly v: number;
  readonly time: string;
  readonly request_id: string;
  readonly endpoint: 'token' | 'diagnose';
  readonly decision: 'issued' | 'denied' | 'diagnosed';
  readonly error?: string | undefined;
  /** Why a request was denied (the broker's message). */
  readonly reason?: string | undefined;
  /** Why the client says it needs the credential: the `reason` request parameter, sanitized (v3). */
  readonly request_reason?: string | undefined;
  readonly check?: string | undefined;
  readonly idp?: string | undefined;
  readonly iss?: string | undefined;
  readonly sub?: string | undefined;
  readonly actor?: string | undefined;
  readonly policy?: string | undefined;
  readonly target?: string | undefined;
  readonly namespace?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  readonly ttl?: number | undefined;
  readonly jti?: string | undefined;
  readonly subject_token_sha256?: string | undefined;
  readonly client_ip?: string | undefined;
  readonly user_agent?: string | undefined;
  readonly latency_ms?: number | undefined;
  readonly context?: Readonly<Record<string, string>> | undefined;
  /** Names of the fields `audit.redact` removed from this event (v2). */
  readonly redacted?: readonly string[] | undefined;
}

/** An event while its request is being decided: fields are filled in as checks pass. */
export type AuditDraft = { -readonly [K in keyof AuditEvent]: AuditEvent[K] };

/** Free text from a client (user agent, reasons) is capped before it reaches a log or a row. */
export const AUDIT_TEXT_MAX = 256;

/** The start of every event: when, which request, from whom. `started` in milliseconds. */
export function startAuditEvent(
  endpoint: AuditEvent['endpoint'],
  decision: AuditEvent['decision'],
  ctx: { readonly requestId: string; readonly clientIp?: string | undefined; readonly userAgent?: string | undefined },
  started: number,
): AuditDraft {
  return {
    v: AUDIT_SCHEMA_VERSION,
    time: new Date(started).toISOString(),
    request_id: ctx.requestId,
    endpoint,
    decision,
    client_ip: ctx.clientIp,
    user_agent: ctx.userAgent?.slice(0, AUDIT_TEXT_MAX),
  };
}

/** What an event records of the error that ended its request: the code, the check, the client-safe message. */
export function failureFields(err: unknown): Pick<AuditEvent, 'error' | 'check' | 'reason'> {
  if (err instanceof StsError) return { error: err.code, check: err.check, reason: err.message };
  return { error: 'ERR_INTERNAL', check: 'internal', reason: 'internal error' };
}

/** A durable place for audit events. `record` resolves only once the event is durable. */
export interface AuditSink {
  record(event: AuditEvent): Promise<void>;
  /** For /readyz. */
  healthy(): Promise<boolean>;
  close?(): Promise<void>;
}

/**
 * Claims that identify a pipeline or a person, copied into the event's context when present:
 * GitHub (repository, workflow, run_id, ...), GitLab (project_path, pipeline_id, ...), OIDC.
 */
export const CONTEXT_CLAIMS = [
  'repository', 'workflow', 'workflow_ref', 'job_workflow_ref', 'run_id', 'run_attempt', 'ref', 'sha', 'actor', 'environment',
  'project_path', 'pipeline_id', 'job_id', 'namespace_path', 'ref_path',
  'email', 'preferred_username', 'azp', 'tid', 'oid', 'appid',
] as const;

export function contextClaims(claims: Claims | undefined): Record<string, string> | undefined {
  if (!claims) return undefined;
  const out: Record<string, string> = {};
  for (const name of CONTEXT_CLAIMS) {
    const value = claims[name];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      out[name] = String(value).slice(0, AUDIT_TEXT_MAX);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * Personal data that `audit.redact` can remove: the client's address and user agent, and the
 * context claims that name a person (GitHub's `actor` is a user name). Pipeline identity
 * (repository, project path, run and pipeline ids) stays: it is what an audit trail is for.
 */

/**
 * The event without the listed personal data, and `redacted` naming what was removed. Context
 * claims are removed by name; `actor` is the GitHub context claim, not the delegating actor.
 */
export function redactEvent(event: AuditEvent, fields: readonly RedactableField[]): AuditEvent {
  if (fields.length === 0) return event;
  const removed: string[] = [];
  const out: { -readonly [K in keyof AuditEvent]: AuditEvent[K] } = { ...event };
  let context: Record<string, string> | undefined = event.context ? { ...event.context } : undefined;
  for (const field of fields) {
    if ((field === 'client_ip' || field === 'user_agent') && out[field] !== undefined) {
      out[field] = undefined;
      removed.push(field);
    } else if (context && field in context) {
      delete context[field];
      removed.push(field);
    }
  }
  if (context && Object.keys(context).length === 0) context = undefined;
  out.context = context;
  if (removed.length > 0) out.redacted = removed;
  return out;
}

/** The stdout line for an event: compact JSON, undefined fields dropped. */
export function auditLine(event: AuditEvent): string {
  return JSON.stringify({ type: 'audit', ...event });
}
