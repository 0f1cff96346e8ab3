/**
 * The Durable Object behind single-use tokens and rate limits on Workers, in real workerd with
 * the ARGO_STS_COORDINATOR binding from wrangler.toml: a replay lands on the same object
 * whichever isolate sends it, so concurrent replays are caught.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { durableRateLimitStore, durableReplayCache, type NamespaceLike } from '../../functions/worker/durable-coordinator.ts';

const ns = (env as unknown as Record<string, NamespaceLike>).ARGO_STS_COORDINATOR!;
const now = 1_790_000_000;

describe('the coordinator Durable Object', () => {
  it('records a jti once: of ten concurrent first uses exactly one wins', async () => {
    const cache = durableReplayCache(ns);
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.firstUse('https://idp.example\u0000jti-1', now + 300, now)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('forgets a jti after its expiry', async () => {
    const cache = durableReplayCache(ns);
    expect(await cache.firstUse('https://idp.example\u0000jti-2', now + 10, now)).toBe(true);
    expect(await cache.firstUse('https://idp.example\u0000jti-2', now + 10, now + 5)).toBe(false);
    expect(await cache.firstUse('https://idp.example\u0000jti-2', now + 400, now + 11)).toBe(true);
  });

  it('releases a reserved jti whose exchange issued nothing, so it can be reserved again', async () => {
    const cache = durableReplayCache(ns);
    expect(await cache.firstUse('https://idp.example\u0000jti-3', now + 300, now)).toBe(true);
    await cache.release('https://idp.example\u0000jti-3');
    expect(await cache.firstUse('https://idp.example\u0000jti-3', now + 300, now)).toBe(true);
    expect(await cache.firstUse('https://idp.example\u0000jti-3', now + 300, now)).toBe(false);
  });

  it('keeps one token bucket per key across callers', async () => {
    const store = durableRateLimitStore(ns);
    const rule = { requests: 2, per: 60 };
    const buckets = [{ key: 'subject\u0000github\u0000repo:acme/app', rule }, { key: 'idp\u0000github', rule: { requests: 100, per: 60 } }];
    const decisions = await Promise.all(Array.from({ length: 5 }, () => store.take(buckets, now * 1000)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(2);
    expect(decisions.find((d) => !d.allowed)?.retryAfter).toBe(30);
  });
});
