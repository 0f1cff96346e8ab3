/**
 * Approval for risky scopes (just-in-time elevation), in the shape of RFC 8628 / CIBA poll mode.
 *
 * A policy's `approval` names scopes that need a person's yes and who may say it. A request for
 * any of them, without `approval_id`, creates a pending approval and answers
 * `authorization_pending` with `approval_id`, `approval_uri`, `interval` and `expires_in`. An
 * approver POSTs `decision=approve|deny` with their own IdP token to `/approvals/<id>`. The client
 * repeats the same request with `approval_id`: approved, it is issued once; denied,
 * `access_denied`; expired, `expired_token`. The requester may not approve their own request.
 *
 * State lives behind ApprovalStore: memory (tests, single process), or SQL over the durable store
 * (SQLite on Node, D1 on Workers) through SqlPort, where each transition is one conditional
 * UPDATE, so an approval is decided once and spent once even across isolates or processes.
 */
import type { ActorMatcher, Config, PolicyConfig } from '../config/schema.ts';
import { StsError } from '../errors.ts';
import type { CryptoPort } from '../keys/crypto-port.ts';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'issued';

/** What the approver is asked about, and how the poll is matched to it. */
export interface ApprovalRecord {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly policy: string;
  /** `<idp>:<sub>` of the subject, and of the actor when delegated. */
  readonly requester: string;
  readonly actor?: string | undefined;
  readonly target: string;
  readonly namespace: string;
  readonly scopes: readonly string[];
  readonly ttl: number;
  readonly reason?: string | undefined;
  /** SHA-256 of the request's identity and grant: a poll must be the same request. */
  readonly fingerprint: string;
  /** Seconds since the epoch. */
  readonly created_at: number;
  readonly expires_at: number;
  readonly approver?: string | undefined;
  readonly decided_at?: number | undefined;
}

export interface ApprovalStore {
  create(record: ApprovalRecord): Promise<void>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** pending → approved/denied, only while pending and unexpired; false otherwise. */
  decide(id: string, status: 'approved' | 'denied', approver: string, now: number): Promise<boolean>;
  /** approved → issued, once; false when it was not approved or already spent. */
  consume(id: string, now: number): Promise<boolean>;
}

/** Seconds a client should wait between polls (RFC 8628 §3.5 default). */
export const POLL_INTERVAL_SECONDS = 5;
export const DEFAULT_APPROVAL_TTL = 600;
/** Approval ids are UUIDs: unguessable (122 random bits), and nothing else is accepted. */
const APPROVAL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isApprovalId(id: string): boolean {
  return APPROVAL_ID.test(id);
}

/** The approval a grant needs: the policy's rule when a granted scope is one of its scopes. */
export function approvalRule(policy: PolicyConfig, scopes: readonly string[]): NonNullable<PolicyConfig['approval']> | undefined {
  const rule = policy.approval;
  return rule && scopes.some((s) => rule.scopes.includes(s)) ? rule : undefined;
}

export function approvalUri(config: Config, id: string): string {
  return `${config.issuer.replace(/\/$/, '')}/approvals/${id}`;
}

/** The refusal that tells the client to wait: RFC 8628's authorization_pending, with where to send the approver. */
export function pendingError(config: Config, record: ApprovalRecord, now: number): StsError {
  return new StsError('ERR_AUTHORIZATION_PENDING', 'this request needs approval: an approver named by the policy must approve it at approval_uri; poll with approval_id', {
    details: { approval_id: record.id, approval_uri: approvalUri(config, record.id), interval: POLL_INTERVAL_SECONDS, expires_in: Math.max(0, record.expires_at - now) },
  });
}

/**
 * A poll with `approval_id`: the record must exist and be this very request; pending asks again,
 * denied and expired end it, approved is spent once and lets the exchange issue.
 */
export async function redeemApproval(store: ApprovalStore, config: Config, id: string, fingerprint: string, now: number): Promise<ApprovalRecord> {
  const record = isApprovalId(id) ? await store.get(id) : undefined;
  if (!record || record.fingerprint !== fingerprint) {
    throw new StsError('ERR_APPROVAL_UNKNOWN', 'approval_id names no approval of this request (same identity, target, namespace, scopes and ttl)');
  }
  if (record.status === 'denied') throw new StsError('ERR_APPROVAL_DENIED', 'the approver denied this request');
  if (record.status === 'issued') throw new StsError('ERR_APPROVAL_USED', 'this approval was already used; ask again');
  if (now >= record.expires_at) throw new StsError('ERR_APPROVAL_EXPIRED', 'the approval request expired before it was used; ask again');
  if (record.status === 'pending') throw pendingError(config, record, now);
  if (!(await store.consume(id, now))) throw new StsError('ERR_APPROVAL_USED', 'this approval was already used; ask again');
  return record;
}

export interface ApprovalGate {
  readonly approvals: ApprovalStore;
  readonly config: Config;
  readonly crypto: Pick<CryptoPort, 'sha256Hex'>;
}

export interface GrantToApprove {
  readonly policy: PolicyConfig;
  readonly requester: string;
  readonly actor: string | undefined;
  readonly target: string;
  readonly namespace: string;
  readonly scopes: readonly string[];
  readonly ttl: number;
  readonly reason: string | undefined;
  /** The client's `approval_id`, when it polls. */
  readonly approvalId: string | undefined;
  /** Seconds since the epoch. */
  readonly now: number;
}

/**
 * Lets a grant through when it needs no approval (undefined) or its approval is approved (the
 * approval id, now spent); otherwise creates the pending approval or refuses the poll.
 */
export async function requireApproval(gate: ApprovalGate, grant: GrantToApprove, onPending: (id: string) => void): Promise<string | undefined> {
  const rule = approvalRule(grant.policy, grant.scopes);
  if (!rule) return undefined;
  const fingerprint = await gate.crypto.sha256Hex(JSON.stringify([
    grant.requester, grant.actor ?? null, grant.policy.id, grant.target, grant.namespace, [...grant.scopes].sort(), grant.ttl,
  ]));
  if (grant.approvalId !== undefined) {
    onPending(grant.approvalId);
    return (await redeemApproval(gate.approvals, gate.config, grant.approvalId, fingerprint, grant.now)).id;
  }
  const record: ApprovalRecord = {
    id: crypto.randomUUID(),
    status: 'pending',
    policy: grant.policy.id,
    requester: grant.requester,
    actor: grant.actor,
    target: grant.target,
    namespace: grant.namespace,
    scopes: grant.scopes,
    ttl: grant.ttl,
    reason: grant.reason,
    fingerprint,
    created_at: grant.now,
    expires_at: grant.now + (rule.ttl ?? DEFAULT_APPROVAL_TTL),
  };
  await gate.approvals.create(record);
  onPending(record.id);
  throw pendingError(gate.config, record, grant.now);
}

/** Why this approver may not decide, or undefined: not named by the policy, or the requester themself. */
export function approverProblem(record: ApprovalRecord, approver: string, matches: boolean): string | undefined {
  if (approver === record.requester || approver === record.actor) return 'an approver may not approve their own request';
  return matches ? undefined : 'this identity is not an approver of the policy';
}

export type ApproverMatcher = Pick<ActorMatcher, 'idp' | 'subject' | 'subject_pattern' | 'claims' | 'condition'>;

/** In memory: exact within one process; lost on restart. */
export class MemoryApprovalStore implements ApprovalStore {
  readonly #records = new Map<string, ApprovalRecord>();
  /** Bounded: a flood of pending requests cannot grow memory without limit. */
  static readonly MAX = 10_000;

  async create(record: ApprovalRecord): Promise<void> {
    if (this.#records.size >= MemoryApprovalStore.MAX) {
      for (const [id, r] of this.#records) if (r.expires_at <= record.created_at) this.#records.delete(id);
      if (this.#records.size >= MemoryApprovalStore.MAX) throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'too many pending approvals; try again later');
    }
    this.#records.set(record.id, record);
  }
  async get(id: string): Promise<ApprovalRecord | undefined> {
    return this.#records.get(id);
  }
  async decide(id: string, status: 'approved' | 'denied', approver: string, now: number): Promise<boolean> {
    const r = this.#records.get(id);
    if (!r || r.status !== 'pending' || now >= r.expires_at) return false;
    this.#records.set(id, { ...r, status, approver, decided_at: now });
    return true;
  }
  async consume(id: string, now: number): Promise<boolean> {
    const r = this.#records.get(id);
    if (!r || r.status !== 'approved' || now >= r.expires_at) return false;
    this.#records.set(id, { ...r, status: 'issued' });
    return true;
  }
}

/** The few SQL calls the store needs: node:sqlite and D1 both provide them. */
export interface SqlPort {
  /** Runs a statement; resolves to the number of rows changed. */
  run(sql: string, params: readonly (string | number | null)[]): Promise<number>;
  first(sql: string, params: readonly (string | number | null)[]): Promise<Record<string, unknown> | undefined>;
}

export const APPROVALS_TABLE = `CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL, expires_at INTEGER NOT NULL,
  approver TEXT, decided_at INTEGER)`;

/** Approvals in the durable store's database: every transition one conditional UPDATE. */
export class SqlApprovalStore implements ApprovalStore {
  readonly #sql: SqlPort;
  #ready: Promise<unknown> | undefined;
  constructor(sql: SqlPort) {
    this.#sql = sql;
  }
  #table(): Promise<unknown> {
    this.#ready ??= this.#sql.run(APPROVALS_TABLE, []).catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }
  async create(record: ApprovalRecord): Promise<void> {
    await this.#table();
    await this.#sql.run('INSERT INTO approvals (id, status, record, expires_at) VALUES (?, ?, ?, ?)', [record.id, record.status, JSON.stringify(record), record.expires_at]);
  }
  async get(id: string): Promise<ApprovalRecord | undefined> {
    await this.#table();
    const row = await this.#sql.first('SELECT status, record, approver, decided_at FROM approvals WHERE id = ?', [id]);
    if (!row) return undefined;
    const record = JSON.parse(String(row.record)) as ApprovalRecord;
    return { ...record, status: row.status as ApprovalStatus, approver: (row.approver as string | null) ?? undefined, decided_at: (row.decided_at as number | null) ?? undefined };
  }
  async decide(id: string, status: 'approved' | 'denied', approver: string, now: number): Promise<boolean> {
    await this.#table();
    return (await this.#sql.run("UPDATE approvals SET status = ?, approver = ?, decided_at = ? WHERE id = ? AND status = 'pending' AND expires_at > ?", [status, approver, now, id, now])) === 1;
  }
  async consume(id: string, now: number): Promise<boolean> {
    await this.#table();
    return (await this.#sql.run("UPDATE approvals SET status = 'issued' WHERE id = ? AND status = 'approved' AND expires_at > ?", [id, now])) === 1;
  }
}
