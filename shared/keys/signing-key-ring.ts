/**
 * Signing keys that rotate: a JWK Set stored in AWS Secrets Manager (or a file), refreshed in the
 * background.
 *
 * - The set staged AWSCURRENT signs (its first key that fits `signing.alg`).
 * - Sets staged AWSPENDING (about to become current) and AWSPREVIOUS are published, so
 *   verifiers know a new key before it signs and an old key while its tokens live.
 * - A key that left every stage stays published until every token it can have signed has
 *   expired: `retainSeconds` (longest minted lifetime + leeway) plus one refresh interval (other
 *   instances may sign with it until their own refresh) after it was last seen in a stage.
 * - At most MAX_PUBLISHED keys are kept; beyond that the longest-retired key goes (with a
 *   warning), so a runaway rotation cannot grow the JWKS without bound.
 * - A failed refresh keeps the last good keys, reports `degraded` through health(), and is
 *   retried after RETRY_SECONDS.
 *
 * Only resolved values are kept between requests: `refreshing` is a flag with a start time,
 * never a shared promise (on Workers a promise from one request cannot be awaited by another).
 */
import type { JWK } from 'jose';
import type { SigningAlgorithm } from '../config/schema.ts';
import type { SecretStage, SecretVersion } from '../config/secret-refs.ts';
import { importSigningKey, parseKeySet, SigningKeyError, type SigningKeyHealth, type SigningKeys } from './signing-keys.ts';

/** A key rotated at the store is signing here within five minutes, without per-request reads. */
export const REFRESH_SECONDS = 300;
/** A failed refresh is retried sooner than a routine one, but not by every request. */
export const RETRY_SECONDS = 30;
/** A refresh that has not settled after this long (a request cut short) no longer blocks the next. */
const STUCK_SECONDS = 60;
/** Far above any real rotation schedule; bounds the JWKS if a rotation job runs away. */
export const MAX_PUBLISHED = 16;

export interface KeyRingOptions {
  readonly alg: SigningAlgorithm;
  /** The value of one version stage of the key set's secret; undefined when no version has it. */
  readonly readStage: (stage: SecretStage) => Promise<SecretVersion | undefined>;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** The longest lifetime of a minted token plus verifiers' leeway, in seconds. */
  readonly retainSeconds: number;
  readonly refreshSeconds?: number | undefined;
  readonly warn: (message: string) => void;
}

interface PublishedKey {
  readonly jwk: JWK;
  /** When a refresh last found the key in a stage (ms). */
  lastSeenMs: number;
  /** Its stage at that refresh, for ordering the JWKS. */
  rank: number;
}

const STAGE_RANK = { signer: 0, AWSCURRENT: 1, AWSPENDING: 2, AWSPREVIOUS: 3, retired: 4 } as const;

export class SigningKeyRing implements SigningKeys {
  readonly alg: SigningAlgorithm;
  readonly ephemeral = false;
  readonly #options: KeyRingOptions;
  readonly #refreshMs: number;
  readonly #published = new Map<string, PublishedKey>();
  #signer!: { kid: string; privateKey: CryptoKey };
  #jwks: { readonly keys: readonly JWK[] } = { keys: [] };
  #lastSuccessMs = 0;
  #nextDueMs = 0;
  #lastError: string | undefined;
  #refreshingSinceMs: number | undefined;

  private constructor(options: KeyRingOptions) {
    this.alg = options.alg;
    this.#options = options;
    this.#refreshMs = (options.refreshSeconds ?? REFRESH_SECONDS) * 1000;
  }

  /** Loads the key set once; unlike later refreshes, a failure here fails start-up. */
  static async load(options: KeyRingOptions): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(options);
    await ring.#load();
    return ring;
  }

  get kid(): string {
    return this.#signer.kid;
  }

  get privateKey(): CryptoKey {
    return this.#signer.privateKey;
  }

  get jwks(): { readonly keys: readonly JWK[] } {
    return this.#jwks;
  }

  maintain(nowMs: number): Promise<void> | undefined {
    if (nowMs < this.#nextDueMs) return undefined;
    if (this.#refreshingSinceMs !== undefined && nowMs - this.#refreshingSinceMs < STUCK_SECONDS * 1000) return undefined;
    return this.refresh();
  }

  /** Re-reads every stage. Never throws: a failure keeps the last good keys and is reported. */
  async refresh(): Promise<void> {
    const started = this.#options.clock();
    this.#refreshingSinceMs = started;
    try {
      await this.#load();
      if (this.#lastError !== undefined) this.#options.warn(`signing keys: refresh succeeded again (signing kid ${this.kid})`);
      this.#lastError = undefined;
    } catch (err) {
      this.#lastError = err instanceof Error ? err.message : 'refresh failed';
      this.#nextDueMs = started + RETRY_SECONDS * 1000;
      this.#options.warn(`signing keys: refresh failed, still signing with kid ${this.kid}: ${this.#lastError}`);
    } finally {
      this.#refreshingSinceMs = undefined;
    }
  }

  health(): SigningKeyHealth {
    return {
      status: this.#lastError === undefined ? 'ok' : 'degraded',
      last_refresh: new Date(this.#lastSuccessMs).toISOString(),
      last_error: this.#lastError,
      published: this.#published.size,
    };
  }

  async #load(): Promise<void> {
    const { alg, readStage, clock } = this.#options;
    const current = await readStage('AWSCURRENT');
    const [pending, previous] = await Promise.all([readStage('AWSPENDING'), readStage('AWSPREVIOUS')]);
    if (!current) throw new SigningKeyError('signing keys: no version of the key set is staged AWSCURRENT');
    const currentSet = await parseKeySet(alg, current.value);
    if (!currentSet.current) throw new SigningKeyError(`signing keys: no key in the set can sign with ${alg} (signing.alg); with Secrets Manager, the AWSCURRENT version's set`);
    const others = [
      { stage: 'AWSPENDING' as const, set: pending && (await parseKeySet(alg, pending.value)) },
      { stage: 'AWSPREVIOUS' as const, set: previous && (await parseKeySet(alg, previous.value)) },
    ];
    const signerKid = currentSet.current.kid;
    const privateKey = this.#signer?.kid === signerKid ? this.#signer.privateKey : await importSigningKey(alg, currentSet.current);

    // Everything below is synchronous: the new state replaces the old in one step.
    const now = clock();
    const seen = new Set<string>();
    const see = (jwk: JWK, rank: number) => {
      const kid = jwk.kid!;
      const known = this.#published.get(kid);
      if (seen.has(kid) && known) {
        known.rank = Math.min(known.rank, rank);
        return;
      }
      seen.add(kid);
      this.#published.set(kid, { jwk, lastSeenMs: now, rank });
    };
    for (const jwk of currentSet.published) see(jwk, jwk.kid === signerKid ? STAGE_RANK.signer : STAGE_RANK.AWSCURRENT);
    for (const { stage, set } of others) for (const jwk of set?.published ?? []) see(jwk, STAGE_RANK[stage]);
    this.#retire(now, seen);
    this.#signer = { kid: signerKid, privateKey };
    this.#jwks = Object.freeze({
      keys: Object.freeze([...this.#published.values()]
        .sort((a, b) => a.rank - b.rank || b.lastSeenMs - a.lastSeenMs)
        .map((p) => p.jwk)),
    });
    this.#lastSuccessMs = now;
    this.#nextDueMs = now + this.#refreshMs;
  }

  /** Drops keys whose every token has expired, then the longest-retired beyond the bound. */
  #retire(now: number, seen: ReadonlySet<string>): void {
    const keepMs = (this.#options.retainSeconds * 1000) + this.#refreshMs;
    for (const [kid, key] of this.#published) {
      if (seen.has(kid)) continue;
      key.rank = STAGE_RANK.retired;
      if (now - key.lastSeenMs > keepMs) this.#published.delete(kid);
    }
    const retired = [...this.#published].filter(([kid]) => !seen.has(kid)).sort(([, a], [, b]) => a.lastSeenMs - b.lastSeenMs);
    while (this.#published.size > MAX_PUBLISHED && retired.length > 0) {
      const [kid] = retired.shift()!;
      this.#published.delete(kid);
      this.#options.warn(`signing keys: more than ${MAX_PUBLISHED} keys; stopped publishing retired kid ${kid} before its tokens expired`);
    }
  }
}
