/**
 * Single-use subject tokens (`single_use: true` on an idp): a token's `jti` is reserved when an
 * exchange of it passes policy, kept until its `exp` when a credential is issued (commit: the
 * reservation simply stays), and released when the exchange is refused or its upstream fails, so
 * only an exchange that issues spends the token. While one exchange holds the reservation a
 * concurrent one is refused, so concurrent presentations still yield exactly one credential.
 *
 * The store is a port. `MemoryReplayCache` is exact on Node (one process). On Workers the
 * StsCoordinator Durable Object (functions/worker/durable-coordinator.ts, one strongly
 * consistent instance per issuer) is used when its binding exists; without it the memory cache
 * is per isolate, so a replay that lands on another isolate is NOT caught. KV must not be used:
 * it is eventually consistent and misses concurrent replays.
 */
import { StsError } from '../errors.ts';

export interface ReplayCache {
  /**
   * Reserves `key` until `expiresAt` (seconds) and resolves true on its first use, false when it
   * is already reserved or spent. `now` in seconds.
   */
  firstUse(key: string, expiresAt: number, now: number): Promise<boolean>;
  /** Forgets a reservation whose exchange issued nothing, so the token can be presented again. */
  release(key: string): Promise<void>;
}

/** Beyond this many live entries the cache refuses new tokens rather than forget old ones. */
export const MAX_REPLAY_ENTRIES = 200_000;

export class MemoryReplayCache implements ReplayCache {
  readonly #seen = new Map<string, number>();

  async firstUse(key: string, expiresAt: number, now: number): Promise<boolean> {
    const until = this.#seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.#seen.size >= MAX_REPLAY_ENTRIES) this.#sweep(now);
    if (this.#seen.size >= MAX_REPLAY_ENTRIES) {
      // Forgetting a live entry would allow its replay: refuse instead.
      throw new StsError('ERR_UPSTREAM_UNAVAILABLE', 'the replay cache is full; try again later');
    }
    this.#seen.set(key, expiresAt);
    return true;
  }

  async release(key: string): Promise<void> {
    this.#seen.delete(key);
  }

  #sweep(now: number): void {
    for (const [key, until] of this.#seen) if (until <= now) this.#seen.delete(key);
  }
}

/**
 * For an idp with `single_use`, reserves the token: refuses one without `jti` and one already
 * exchanged (or being exchanged). `now` in seconds; the entry lives until the token's exp plus the
 * leeway. Resolves to the reserved key (undefined when the idp is not single-use): the caller
 * releases it with `cache.release` unless the exchange issues.
 */
export async function reserveSingleUseToken(
  cache: ReplayCache,
  idp: { readonly single_use?: boolean | undefined; readonly clock_skew: number },
  claims: { readonly iss: string; readonly jti?: unknown; readonly exp?: unknown },
  now: number,
): Promise<string | undefined> {
  if (!idp.single_use) return undefined;
  if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 256) {
    throw new StsError('ERR_TOKEN_CLAIM_MISSING', 'this issuer\'s tokens are single-use and the token has no usable jti claim', { check: 'format' });
  }
  const exp = typeof claims.exp === 'number' ? claims.exp : now;
  const key = `${claims.iss}\u0000${claims.jti}`;
  if (!(await cache.firstUse(key, exp + idp.clock_skew, now))) {
    throw new StsError('ERR_TOKEN_REPLAYED', 'this token was already exchanged; its issuer\'s tokens are single-use');
  }
  return key;
}
