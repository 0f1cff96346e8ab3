/**
 * Where audit events go: the durable sink first (when configured), then one JSON line on stdout.
 * An issuance whose durable write fails is refused (503) and logged, with the event that could
 * not be stored, so nothing is lost silently. Every event is stamped with the schema version and
 * redacted (`audit.redact`) before it reaches either place.
 */
import { AUDIT_SCHEMA_VERSION, type AuditEvent, type AuditSink, auditLine, redactEvent } from './audit-event.ts';
import { type RedactableField } from '../config/schema.ts';
import { StsError } from '../errors.ts';

export type LineWriter = (line: string) => void;

/**
 * What the runtime measures about audit events (Prometheus on Node, log fields on Workers). The
 * core calls it; it never decides anything.
 */
export interface AuditObserver {
  /** One call per decision, after it is recorded (or refused for want of a durable record). */
  decision(event: AuditEvent): void;
  /** One call per durable write: how long it took and whether it committed. */
  durableWrite(seconds: number, ok: boolean): void;
}

export interface AuditLogOptions {
  readonly redact?: readonly RedactableField[] | undefined;
  readonly observer?: AuditObserver | undefined;
  /** Monotonic milliseconds, for write latency; defaults to performance.now. */
  readonly elapsed?: () => number;
}

export class AuditLog {
  readonly #write: LineWriter;
  readonly #sink: AuditSink | undefined;
  readonly #redact: readonly RedactableField[];
  readonly #observer: AuditObserver | undefined;
  readonly #elapsed: () => number;

  constructor(write: LineWriter, sink?: AuditSink, options: AuditLogOptions = {}) {
    this.#write = write;
    this.#sink = sink;
    this.#redact = options.redact ?? [];
    this.#observer = options.observer;
    this.#elapsed = options.elapsed ?? (() => performance.now());
  }

  /** Records an issuance; throws ERR_AUDIT_UNAVAILABLE when the durable sink cannot store it. */
  async record(raw: AuditEvent): Promise<void> {
    const event = this.#prepare(raw);
    if (this.#sink) {
      try {
        await this.#durable(event);
      } catch (cause) {
        const refused: AuditEvent = { ...event, decision: 'denied', error: 'ERR_AUDIT_UNAVAILABLE', check: 'unavailable', reason: 'durable audit write failed; no token was returned', jti: undefined };
        this.#write(auditLine(refused));
        this.#write(JSON.stringify({ type: 'audit_failure', request_id: event.request_id, message: 'durable audit write failed', cause: errorName(cause), event }));
        this.#observer?.decision(refused);
        throw new StsError('ERR_AUDIT_UNAVAILABLE', 'the audit trail is unavailable, so no token can be issued; try again later', { cause });
      }
    }
    this.#write(auditLine(event));
    this.#observer?.decision(event);
  }

  /** Records a denial or a diagnosis: a failed durable write is logged, and the answer stands. */
  async recordDenial(raw: AuditEvent): Promise<void> {
    const event = this.#prepare(raw);
    this.#write(auditLine(event));
    this.#observer?.decision(event);
    if (!this.#sink) return;
    try {
      await this.#durable(event);
    } catch (cause) {
      this.#write(JSON.stringify({ type: 'audit_failure', request_id: event.request_id, message: 'durable audit write failed', cause: errorName(cause), event }));
    }
  }

  async healthy(): Promise<boolean> {
    return this.#sink ? this.#sink.healthy() : true;
  }

  async close(): Promise<void> {
    await this.#sink?.close?.();
  }

  #prepare(event: AuditEvent): AuditEvent {
    return redactEvent({ ...event, v: AUDIT_SCHEMA_VERSION }, this.#redact);
  }

  async #durable(event: AuditEvent): Promise<void> {
    const started = this.#elapsed();
    let ok = false;
    try {
      await this.#sink!.record(event);
      ok = true;
    } finally {
      this.#observer?.durableWrite((this.#elapsed() - started) / 1000, ok);
    }
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : 'unknown';
}
