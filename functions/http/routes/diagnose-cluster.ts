/**
 * POST /diagnose/cluster: the diagnose page's cluster section. A JSON body with `subject_token`
 * and `authentication_config` (the AuthenticationConfiguration or `--oidc-*` flags as text); the
 * answer is shared/cluster's diagnosis, exactly what `argo-sts diagnose --cluster --json` prints.
 * The only outbound traffic is the discovery and JWKS fetch for the token's authenticator, through
 * guardedFetch (https, no private hosts); a private `certificateAuthority` works where the runtime
 * can trust one (Node), and is refused with a clear message on Workers. Rate-limited like
 * /diagnose; the token is neither stored nor logged.
 */
import { Hono } from 'hono';
import { parseAuthenticationConfig } from '../../../shared/cluster/authentication-config.ts';
import { AUTH_CONFIG_LIMITS, AuthenticationConfigError } from '../../../shared/cluster/kube-authn-model.ts';
import { diagnoseClusterToken } from '../../../shared/cluster/diagnose-cluster.ts';
import { followRedirects } from '../../../shared/cluster/follow-redirects.ts';
import { guardedFetch } from '../../../shared/cluster/guarded-fetch.ts';
import { StsError } from '../../../shared/errors.ts';
import type { FetchLike } from '../../../shared/http/fetch-capped.ts';
import { isLoopbackHost } from '../../../shared/http/urls.ts';
import { readBodyCapped } from '../../../shared/exchange/token-request.ts';
import type { AppEnv } from '../app-env.ts';

export const diagnoseClusterRoutes = new Hono<AppEnv>();

const MAX_TOKEN_CHARS = 16 * 1024;

diagnoseClusterRoutes.post('/diagnose/cluster', async (c) => {
  const runtime = c.get('runtime');
  const broker = await runtime.broker(c);
  await broker.rateLimits.enforceClient(broker.config.rate_limit?.per_client_ip, runtime.clientIp(c), broker.clock());
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) throw new StsError('ERR_REQUEST_MALFORMED', 'send a JSON body: {"subject_token", "authentication_config"}');
  const raw = await readBodyCapped(c.req.raw, AUTH_CONFIG_LIMITS.maxBytes + MAX_TOKEN_CHARS + 1024);
  let body: { subject_token?: unknown; authentication_config?: unknown };
  try {
    body = JSON.parse(raw) as typeof body;
  } catch {
    throw new StsError('ERR_REQUEST_MALFORMED', 'the body is not JSON');
  }
  const token = typeof body?.subject_token === 'string' ? body.subject_token.trim() : '';
  const text = typeof body?.authentication_config === 'string' ? body.authentication_config : '';
  if (!token || token.length > MAX_TOKEN_CHARS) throw new StsError('ERR_REQUEST_MALFORMED', `subject_token is required (at most ${MAX_TOKEN_CHARS} characters)`);
  if (!text.trim()) throw new StsError('ERR_REQUEST_MALFORMED', 'authentication_config is required');
  let config;
  try {
    config = parseAuthenticationConfig(text);
  } catch (err) {
    if (err instanceof AuthenticationConfigError) throw new StsError('ERR_REQUEST_MALFORMED', `authentication_config: ${err.message}`);
    throw err;
  }
  const allowLoopback = isLoopbackHost(new URL(broker.config.issuer).hostname);
  const plain: FetchLike = (input, init) => fetch(input, init);
  const fetchFor = (ca: string | undefined): FetchLike => {
    if (!ca) return followRedirects(guardedFetch(plain, { allowLoopback }));
    const trusting = runtime.fetchTrustingCa?.(ca);
    if (trusting) return followRedirects(guardedFetch(trusting, { allowLoopback }));
    return () => Promise.reject(new TypeError('this broker cannot trust a private certificateAuthority (Workers trusts public CAs only); run argo-sts diagnose --cluster'));
  };
  const diagnosis = await diagnoseClusterToken({ token, config, now: broker.clock(), fetchFor });
  return c.json(diagnosis, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
});
