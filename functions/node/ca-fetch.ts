/**
 * A fetch for Node that trusts a private CA bundle (a cluster's own CA). Node's global fetch
 * cannot take a CA per request, so this speaks node:https with `ca` set, and only the subset of
 * fetch the broker uses: method, headers, a string body, an abort signal, no redirects.
 */
import { request } from 'node:https';
import type { FetchLike } from '../../shared/http/fetch-capped.ts';

export function fetchTrustingCa(caPem: string): FetchLike {
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      if (url.protocol !== 'https:') {
        reject(new TypeError(`a CA bundle applies to https URLs only, not ${url.protocol}`));
        return;
      }
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      const req = request(url, { method: init.method ?? 'GET', headers, ca: caPem, signal: init.signal ?? undefined }, (res) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            res.on('data', (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
            res.on('end', () => controller.close());
            res.on('error', (err) => controller.error(err));
          },
          cancel() {
            res.destroy();
          },
        });
        const status = res.statusCode ?? 502;
        resolve(new Response(status === 204 || status === 304 ? null : body, { status, headers: responseHeaders }));
      });
      req.on('error', reject);
      if (typeof init.body === 'string') req.write(init.body);
      else if (init.body != null) {
        req.destroy();
        reject(new TypeError('fetchTrustingCa sends string bodies only'));
        return;
      }
      req.end();
    });
}
