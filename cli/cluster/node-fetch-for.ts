/**
 * The fetch a cluster diagnosis makes on Node, as kube-apiserver makes it: trusting the
 * authenticator's `certificateAuthority` when it has one (else the host's roots), following
 * redirects like Go's http.Client.
 */
import { fetchTrustingCa } from '../../functions/node/ca-fetch.ts';
import { followRedirects } from '../../shared/cluster/follow-redirects.ts';
import type { FetchLike } from '../../shared/http/fetch-capped.ts';

export function nodeFetchFor(certificateAuthority: string | undefined): FetchLike {
  return followRedirects(certificateAuthority ? fetchTrustingCa(certificateAuthority) : (input, init) => fetch(input, init));
}
