/**
 * The client's side of draft-ietf-oauth-identity-assertion-authz-grant-04 at the enterprise IdP:
 * a token exchange of the user's ID token for an ID-JAG. Pure fetch, so the workerd suites use it too.
 */
export const TOKEN_TYPE_ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/** What a client does at the IdP: trade its user's ID token for an ID-JAG for `audience`. */
export async function requestIdJag(idp: { readonly tokenEndpoint: string }, params: { clientId: string; clientSecret: string; idToken: string; audience: string; resource?: string; scope?: string }): Promise<string> {
  const form = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    requested_token_type: TOKEN_TYPE_ID_JAG,
    subject_token: params.idToken,
    subject_token_type: ID_TOKEN,
    audience: params.audience,
    client_id: params.clientId,
    client_secret: params.clientSecret,
  });
  if (params.resource) form.set('resource', params.resource);
  if (params.scope) form.set('scope', params.scope);
  const res = await fetch(idp.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  const body = (await res.json()) as Record<string, string>;
  if (res.status !== 200 || body.issued_token_type !== TOKEN_TYPE_ID_JAG) throw new Error(`the IdP refused the ID-JAG request: ${res.status} ${body.error}`);
  return body.access_token!;
}
