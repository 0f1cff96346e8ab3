/**
 * An in-memory credential cache: one credential per key, handed out until it is about to expire,
 * then replaced by a fresh exchange. Concurrent callers for the same key share one exchange.
 * Failures are not cached. The clock is injected (milliseconds since the epoch).
 *
 * On Workers, keep a cache per request or per Durable Object: an isolate may serve many
 * requests, and a pending exchange must not cross requests there.
 */
import type { Credential } from './sts-client.ts';

export interface CredentialCacheOptions {
  /** Refresh this many seconds before expiry (default 60), at most half the credential's lifetime. */
  readonly refreshBeforeSeconds?: number;
  readonly clock?: () => number;
}

/** When a credential of this lifetime should be replaced: `refreshBefore` s early, at most half-way. */
export function refreshAt(credential: Pick<Credential, 'expiresAt' | 'expiresIn'>, refreshBeforeSeconds = 60): number {
  const early = Math.min(refreshBeforeSeconds, credential.expiresIn / 2) * 1000;
  return credential.expiresAt - early;
}

export class CredentialCache {
  readonly #entries = new Map<string, Credential>();
  readonly #pending = new Map<string, Promise<Credential>>();
  readonly #refreshBefore: number;
  readonly #clock: () => number;

  constructor(options: CredentialCacheOptions = {}) {
    this.#refreshBefore = options.refreshBeforeSeconds ?? 60;
    this.#clock = options.clock ?? Date.now;
  }

  /** The cached credential for `key` while it is fresh, else the result of `obtain` (cached). */
  async get(key: string, obtain: () => Promise<Credential>): Promise<Credential> {
    const cached = this.#entries.get(key);
    if (cached && this.#clock() < refreshAt(cached, this.#refreshBefore)) return cached;
    const pending = this.#pending.get(key);
    if (pending) return pending;
    // A refusal or outage is not remembered: the next call tries again.
    const fresh = obtain()
      .then((credential) => {
        this.#entries.set(key, credential);
        return credential;
      })
      .finally(() => this.#pending.delete(key));
    this.#pending.set(key, fresh);
    return fresh;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** A stable cache key for a request: the fields that change what is issued, with the tokens hashed. */
export async function cacheKey(parts: Record<string, string | number | readonly string[] | undefined>): Promise<string> {
  const canonical = JSON.stringify(Object.keys(parts).sort().map((k) => [k, parts[k] ?? null]));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
