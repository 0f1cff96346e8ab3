/**
 * Audit events: one per /token decision (issued or denied) and one per /diagnose call. Every
 * event goes to stdout as one JSON line and, when configured, to a durable sink; a token leaves
 * the broker only after its durable record is written. Events never hold a token: only the
 * SHA-256 of the subject token, so a leaked log cannot be replayed.
 */
import type { Claims } from './verify-subject-token.ts';

export const AUDIT_SCHEMA_VERSION = 1;

export interface AuditEvent {
  readonly v: number;
  readonly time: string;
  readonly request_id: string;
  readonly endpoint: 'token' | 'diagnose';
  readonly decision: 'issued' | 'denied' | 'diagnosed';
  readonly error?: string | undefined;
  readonly reason?: string | undefined;
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
      out[name] = String(value).slice(0, 256);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The stdout line for an event: compact JSON, undefined fields dropped. */
export function auditLine(event: AuditEvent): string {
  return JSON.stringify({ type: 'audit', ...event });
}
