/**
 * Single-use subject tokens (`single_use: true` on an idp): a token's `jti` is remembered from
 * its first exchange until its `exp`, and a second exchange of it is refused.
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
   * Records `key` until `expiresAt` (seconds) and resolves true on its first use, false when it
   * was already used. `now` in seconds.
   */
  firstUse(key: string, expiresAt: number, now: number): Promise<boolean>;
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

  #sweep(now: number): void {
    for (const [key, until] of this.#seen) if (until <= now) this.#seen.delete(key);
  }
}

/**
 * For an idp with `single_use`, spends the token: refuses one without `jti` and one already
 * exchanged. `now` in seconds; the entry lives until the token's exp plus the leeway.
 */
export async function spendSingleUseToken(
  cache: ReplayCache,
  idp: { readonly single_use?: boolean | undefined; readonly clock_skew: number },
  claims: { readonly iss: string; readonly jti?: unknown; readonly exp?: unknown },
  now: number,
): Promise<void> {
  if (!idp.single_use) return;
  if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 256) {
    throw new StsError('ERR_TOKEN_CLAIM_MISSING', 'this issuer\'s tokens are single-use and the token has no usable jti claim', { check: 'format' });
  }
  const exp = typeof claims.exp === 'number' ? claims.exp : now;
  if (!(await cache.firstUse(`${claims.iss}\u0000${claims.jti}`, exp + idp.clock_skew, now))) {
    throw new StsError('ERR_TOKEN_REPLAYED', 'this token was already exchanged; its issuer\'s tokens are single-use');
  }
}
