/**
 * The public keys of each configured identity provider: OIDC discovery (or a configured
 * `jwks_uri`), fetched with a timeout and a size cap, cached, refreshed in the background of
 * requests, and refetched for an unknown `kid` at most once per cooldown.
 *
 * Only configured issuers ever reach this module: the token's `iss` is matched against the
 * allowlist before any key is looked up, so a token cannot make the broker fetch a URL it names.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';
import type { IdpConfig } from '../config/schema.ts';
import { StsError } from '../errors.ts';
import { FETCH_LIMITS, type FetchLike, fetchJson } from '../http/fetch-capped.ts';
import { isAcceptableUrl } from '../http/urls.ts';

export const JWKS_LIMITS = {
  /** An IdP that does not answer in 5 s is down for this request; the cached keys serve. */
  fetchTimeoutMs: FETCH_LIMITS.timeoutMs,
  /** Real key sets are a few KiB; a larger answer is a misconfiguration or an attack. */
  maxResponseBytes: FETCH_LIMITS.maxResponseBytes,
  /** Keys are refetched when older than this, so a rotation is seen within 10 min. */
  refreshAfterSeconds: 600,
  /**
   * After a failed refresh, the last good keys keep serving for up to a day (per idp:
   * `jwks_max_stale`). Bounded, so a key the IdP revoked during an outage stops working.
   */
  maxStaleSeconds: 24 * 3600,
  /** An unknown kid triggers at most one refetch per issuer in this window (kid storms). */
  unknownKidCooldownSeconds: 30,
  /**
   * After a failed fetch, no new attempt for this long, so a dead IdP is not hammered: at most
   * one fetch per issuer per 30 s, whether or not keys are cached.
   */
  failureBackoffSeconds: 30,
} as const;

export type KeyResolver = ReturnType<typeof createLocalJWKSet>;

interface CachedKeys {
  readonly resolver: KeyResolver;
  readonly kids: ReadonlySet<string>;
  readonly fetchedAt: number;
}

interface IssuerState {
  keys?: CachedKeys;
  lastAttemptAt?: number;
  lastFailure?: string;
  /** Node only (see `shareInFlight`): one fetch per issuer at a time. */
  inFlight?: Promise<CachedKeys>;
}

export interface IssuerKeysOptions {
  fetch: FetchLike;
  /** Milliseconds since the epoch. */
  clock: () => number;
  /**
   * Share one in-flight fetch between concurrent requests. Safe on Node; never on Workers, where a
   * promise created by one request's I/O cannot be awaited from another request.
   */
  shareInFlight: boolean;
}

export type RefreshOutcome = 'refreshed' | 'cooldown' | 'failed';

export class IssuerKeys {
  readonly #options: IssuerKeysOptions;
  readonly #state = new Map<string, IssuerState>();

  constructor(options: IssuerKeysOptions) {
    this.#options = options;
  }

  /**
   * Keys for an issuer: cached when fresh enough; when stale, refreshed (in the background on Node,
   * awaited on Workers); the last good keys while the IdP is down, up to `jwks_max_stale`.
   */
  async get(idp: IdpConfig): Promise<CachedKeys> {
    const state = this.#stateFor(idp);
    const now = this.#nowSeconds();
    const keys = state.keys;
    if (keys && now - keys.fetchedAt < JWKS_LIMITS.refreshAfterSeconds) return keys;
    const maxStale = idp.jwks_max_stale ?? JWKS_LIMITS.maxStaleSeconds;
    const usable = keys && now - keys.fetchedAt < maxStale ? keys : undefined;
    if (usable && this.#options.shareInFlight) {
      // Node: the cached keys answer now and the refresh runs beside the request (its outcome is
      // recorded for /readyz and the next request). Workers cannot carry a fetch past the request
      // that started it, so there the refresh is awaited, bounded by the fetch timeout.
      if (!this.#inBackoff(state, now)) this.#load(idp, state).catch(() => {});
      return usable;
    }
    if (this.#inBackoff(state, now)) {
      if (usable) return usable;
      throw unavailable(new Error(state.lastFailure));
    }
    try {
      return await this.#load(idp, state);
    } catch (err) {
      if (usable) return usable;
      throw unavailable(err);
    }
  }

  /** Refetches for an unknown kid, at most once per cooldown per issuer. */
  async refreshForUnknownKid(idp: IdpConfig): Promise<{ outcome: RefreshOutcome; keys?: CachedKeys }> {
    const state = this.#stateFor(idp);
    const now = this.#nowSeconds();
    const last = state.lastAttemptAt;
    if (last !== undefined && now - last < JWKS_LIMITS.unknownKidCooldownSeconds) {
      return state.lastFailure === undefined ? { outcome: 'cooldown' } : { outcome: 'failed' };
    }
    try {
      return { outcome: 'refreshed', keys: await this.#load(idp, state) };
    } catch {
      return { outcome: 'failed' };
    }
  }

  /** For /readyz and diagnose: issuers whose last fetch failed. */
  failures(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [issuer, state] of this.#state) if (state.lastFailure) out[issuer] = state.lastFailure;
    return out;
  }

  #stateFor(idp: IdpConfig): IssuerState {
    let state = this.#state.get(idp.issuer);
    if (!state) this.#state.set(idp.issuer, (state = {}));
    return state;
  }

  #inBackoff(state: IssuerState, now: number): boolean {
    return state.lastFailure !== undefined && state.lastAttemptAt !== undefined &&
      now - state.lastAttemptAt < JWKS_LIMITS.failureBackoffSeconds;
  }

  #nowSeconds(): number {
    return Math.floor(this.#options.clock() / 1000);
  }

  #load(idp: IdpConfig, state: IssuerState): Promise<CachedKeys> {
    if (this.#options.shareInFlight && state.inFlight) return state.inFlight;
    const promise = this.#fetchKeys(idp).then(
      (keys) => {
        state.keys = keys;
        state.lastFailure = undefined;
        return keys;
      },
      (err: unknown) => {
        state.lastFailure = err instanceof Error ? err.message : 'fetch failed';
        throw err;
      },
    ).finally(() => {
      state.inFlight = undefined;
    });
    state.lastAttemptAt = this.#nowSeconds();
    if (this.#options.shareInFlight) state.inFlight = promise;
    return promise;
  }

  async #fetchKeys(idp: IdpConfig): Promise<CachedKeys> {
    const jwksUri = idp.jwks_uri ?? (await this.#discoverJwksUri(idp));
    const doc = await fetchJson(this.#options.fetch, jwksUri);
    if (!doc || typeof doc !== 'object' || !Array.isArray((doc as JSONWebKeySet).keys)) {
      throw new Error(`JWKS at ${jwksUri} has no keys array`);
    }
    // Only asymmetric public keys can verify subject tokens; drop anything else.
    const keys = (doc as JSONWebKeySet).keys.filter(
      (k: JWK) => k && typeof k === 'object' && (k.kty === 'RSA' || k.kty === 'EC' || k.kty === 'OKP') && k.d === undefined,
    );
    const kids = new Set(keys.map((k) => k.kid).filter((kid): kid is string => typeof kid === 'string'));
    return { resolver: createLocalJWKSet({ keys }), kids, fetchedAt: this.#nowSeconds() };
  }

  async #discoverJwksUri(idp: IdpConfig): Promise<string> {
    const url = `${idp.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const doc = (await fetchJson(this.#options.fetch, url)) as { issuer?: unknown; jwks_uri?: unknown } | null;
    if (!doc || typeof doc !== 'object') throw new Error(`discovery document at ${url} is not an object`);
    if (doc.issuer !== idp.issuer) throw new Error(`discovery document at ${url} names another issuer`);
    if (typeof doc.jwks_uri !== 'string' || !isAcceptableUrl(doc.jwks_uri)) {
      throw new Error(`discovery document at ${url} has no acceptable jwks_uri`);
    }
    return doc.jwks_uri;
  }
}

function unavailable(cause: unknown): StsError {
  return new StsError('ERR_KEYS_UNAVAILABLE', "the signing keys of the token's issuer cannot be fetched; try again later", { cause });
}
