/**
 * Where audit events go: the durable sink first (when configured), then one JSON line on stdout.
 * An issuance whose durable write fails is refused (503) and logged, with the event that could
 * not be stored, so nothing is lost silently.
 */
import { type AuditEvent, type AuditSink, auditLine } from './audit.ts';
import { StsError } from './errors.ts';

export type LineWriter = (line: string) => void;

export class AuditLog {
  readonly #write: LineWriter;
  readonly #sink: AuditSink | undefined;

  constructor(write: LineWriter, sink?: AuditSink) {
    this.#write = write;
    this.#sink = sink;
  }

  /** Records an issuance; throws ERR_AUDIT_UNAVAILABLE when the durable sink cannot store it. */
  async record(event: AuditEvent): Promise<void> {
    if (this.#sink) {
      try {
        await this.#sink.record(event);
      } catch (cause) {
        this.#write(auditLine({ ...event, decision: 'denied', error: 'ERR_AUDIT_UNAVAILABLE', reason: 'durable audit write failed; no token was returned', jti: undefined }));
        this.#write(JSON.stringify({ type: 'audit_failure', request_id: event.request_id, message: 'durable audit write failed', cause: errorName(cause), event }));
        throw new StsError('ERR_AUDIT_UNAVAILABLE', 'the audit trail is unavailable, so no token can be issued; try again later', { cause });
      }
    }
    this.#write(auditLine(event));
  }

  /** Records a denial or a diagnosis: a failed durable write is logged, and the answer stands. */
  async recordDenial(event: AuditEvent): Promise<void> {
    this.#write(auditLine(event));
    if (!this.#sink) return;
    try {
      await this.#sink.record(event);
    } catch (cause) {
      this.#write(JSON.stringify({ type: 'audit_failure', request_id: event.request_id, message: 'durable audit write failed', cause: errorName(cause) }));
    }
  }

  async healthy(): Promise<boolean> {
    return this.#sink ? this.#sink.healthy() : true;
  }

  async close(): Promise<void> {
    await this.#sink?.close?.();
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : 'unknown';
}
