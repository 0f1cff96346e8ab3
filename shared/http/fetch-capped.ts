/**
 * Outbound GETs the broker makes to identity providers and clusters: a timeout, no redirects, a
 * size cap, and the fetch injectable so the processing is tested with canned responses.
 */

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Limits of every outbound document fetch (discovery, JWKS, cluster and Entra answers). */
export const FETCH_LIMITS = {
  /** A peer that does not answer in 5 s is down for this request. */
  timeoutMs: 5_000,
  /** Real discovery documents and key sets are a few KiB; a larger answer is a misconfiguration or an attack. */
  maxResponseBytes: 256 * 1024,
} as const;

/** GET a JSON document with a timeout, no redirects and a size cap. */
export async function fetchJson(fetch: FetchLike, url: string): Promise<unknown> {
  const response = await fetch(url, {
    method: 'GET',
    headers: { accept: 'application/json' },
    redirect: 'manual',
    signal: AbortSignal.timeout(FETCH_LIMITS.timeoutMs),
  });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`GET ${url} answered ${response.status}`);
  }
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > FETCH_LIMITS.maxResponseBytes) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`GET ${url}: response larger than ${FETCH_LIMITS.maxResponseBytes} bytes`);
  }
  const text = await readCapped(response, FETCH_LIMITS.maxResponseBytes, url);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`GET ${url}: response is not JSON`);
  }
}

/** Reads a response body as text, refusing more than maxBytes. */
export async function readCapped(response: Response, maxBytes: number, url: string): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let total = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new Error(`${url}: response larger than ${maxBytes} bytes`);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
