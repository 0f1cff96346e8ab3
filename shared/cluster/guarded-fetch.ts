/**
 * The fetch the broker makes for the diagnose page's cluster section: the AuthenticationConfiguration
 * is the visitor's, so its URLs are the visitor's choice. This wrapper allows only https, refuses
 * hosts that name the broker's own network (loopback, private, link-local, CGNAT and unique-local
 * address literals; `localhost`, `*.localhost`, `*.local`, `*.internal`), and leaves the timeout,
 * the size cap and "no redirects" to fetchJson (shared/http/fetch-capped.ts), which every fetch of the
 * diagnosis goes through. Names that resolve to private addresses are not caught here (no DNS on
 * Workers; Cloudflare's edge does not route to private networks); a Node broker exposed to the
 * public should sit where its egress reaches only the internet. `allowLoopback` is for a broker
 * that itself runs on loopback (development and tests).
 */
import type { FetchLike } from '../http/fetch-capped.ts';

function isPrivateAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h.endsWith('.local') || h.endsWith('.internal')) return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a >= 224;
  }
  if (h.includes(':')) return h === '::' || h === '::1' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h) || h.startsWith('::ffff:');
  return false;
}

export function guardedFetch(base: FetchLike, options: { allowLoopback: boolean }): FetchLike {
  return (input, init) => {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      return Promise.reject(new TypeError(`${input} is not a URL`));
    }
    if (url.protocol !== 'https:') return Promise.reject(new TypeError(`refused: ${url.protocol} URL (https only)`));
    const loopback = /^(127\.|localhost$|\[::1\]$)/.test(url.hostname);
    if (isPrivateAddress(url.hostname) && !(options.allowLoopback && loopback)) {
      return Promise.reject(new TypeError(`refused: ${url.hostname} is a private or loopback host; use argo-sts diagnose --cluster from a machine that reaches it`));
    }
    return base(input, init);
  };
}
