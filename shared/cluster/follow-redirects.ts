/**
 * kube-apiserver fetches discovery and keys with Go's http.Client, which follows up to 10
 * redirects; the broker's fetchJson (shared/http/fetch-capped.ts) follows none, by design. The cluster
 * diagnosis wraps its fetch in this, so a discovery URL that redirects reads as the apiserver
 * reads it. Each hop goes through the wrapped fetch (and so through guardedFetch's host rules).
 */
import type { FetchLike } from '../http/fetch-capped.ts';

/** Go's net/http default. */
export const MAX_REDIRECTS = 10;

export function followRedirects(base: FetchLike): FetchLike {
  return async (input, init = {}) => {
    let url = input;
    for (let hop = 0; ; hop++) {
      const response = await base(url, { ...init, redirect: 'manual' });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status > 399 || location === null) return response;
      await response.body?.cancel().catch(() => {});
      if (hop === MAX_REDIRECTS) throw new TypeError(`GET ${input}: stopped after ${MAX_REDIRECTS} redirects`);
      url = new URL(location, url).toString();
    }
  };
}
