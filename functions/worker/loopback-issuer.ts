/**
 * `wrangler dev --port N` (or `--ip localhost`) serves the Worker on an origin the dev config's
 * loopback issuer does not name, and discovery would advertise the configured port. A loopback
 * http issuer is development by construction (issuers are https everywhere else), so when a
 * request arrives on another loopback origin the broker is built for that origin: discovery,
 * `jwks_uri` and the minted `iss` then name where it actually listens. Nothing else is rewritten.
 */
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** The issuer to serve for a request, or the configured one when either side is not loopback http. */
export function loopbackIssuerFor(configured: string, requestUrl: string): string {
  let issuer: URL;
  let request: URL;
  try {
    issuer = new URL(configured);
    request = new URL(requestUrl);
  } catch {
    return configured;
  }
  const loopback = (u: URL) => u.protocol === 'http:' && LOOPBACK.test(u.hostname);
  if (!loopback(issuer) || !loopback(request) || issuer.origin === request.origin) return configured;
  return `${request.origin}${configured.slice(issuer.origin.length)}`;
}
