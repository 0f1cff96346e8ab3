/**
 * The RFC 8693 request a client sends to POST /token when it exchanges an ID token, as form
 * fields. Pure Web APIs, so the Node suites, the workerd suites and the bench build the same body.
 */

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/**
 * `grant_type` token-exchange and `subject_token_type` id_token, then `params` (which may
 * override either, to send a malformed request).
 */
export function idTokenExchangeForm(params: Record<string, string>): URLSearchParams {
  return new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token_type: ID_TOKEN_TYPE, ...params });
}
