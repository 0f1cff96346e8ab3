/** POST to the worker under test in workerd, form-encoded. */
import { SELF } from 'cloudflare:test';
import { idTokenExchangeForm } from '../support/token-requests.ts';

/** POST /token with an ID-token exchange form (test/support/token-requests.ts) and `params`. */
export function postExchange(params: Record<string, string>): Promise<Response> {
  return postForm('/token', idTokenExchangeForm(params));
}

/** POST `path` with `form` as the body. */
export function postForm(path: string, form: URLSearchParams): Promise<Response> {
  return SELF.fetch(`https://sts.workers.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
}
