import { describe, expect, it } from 'vitest';
import {
  buildTokenRequest, CredentialCache, type Credential, decodeJwtClaims, exchange, processTokenResponse, refreshAt,
  StsRequestError, StsTransportError,
} from '../../client/index.ts';

const NOW_MS = 1_790_000_000_000;
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

function credential(expiresIn: number, at = NOW_MS, token = 'eyJ.a.b'): Credential {
  return { accessToken: token, tokenType: 'Bearer', issuedTokenType: 'urn:ietf:params:oauth:token-type:jwt', expiresIn, expiresAt: at + expiresIn * 1000, scopes: ['argo:read'], namespace: 'ci', requestId: undefined };
}

describe('buildTokenRequest', () => {
  it('sends an RFC 8693 form with the subject token, target, scope, namespace, ttl, actor and reason', async () => {
    const request = buildTokenRequest({ broker: 'https://sts.example.com/base' }, {
      subjectToken: 'subject', audience: 'argo-prod', scope: ['argo:read', 'argo:submit'], namespace: 'ci', ttl: 300,
      actorToken: 'actor', reason: 'rerun the nightly build',
    });
    expect(request.method).toBe('POST');
    expect(request.url).toBe('https://sts.example.com/base/token');
    expect(request.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(await request.text()))).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'subject',
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      audience: 'argo-prod',
      scope: 'argo:read argo:submit',
      namespace: 'ci',
      requested_ttl: '300',
      actor_token: 'actor',
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      reason: 'rerun the nightly build',
    });
  });

  it('refuses a ttl that is not a positive integer before sending anything', () => {
    expect(() => buildTokenRequest({ broker: 'https://sts.example.com' }, { subjectToken: 's', ttl: 1.5 })).toThrowError(expect.objectContaining({ code: 'ERR_STS_USAGE' }));
    expect(() => buildTokenRequest({ broker: 'ftp://sts.example.com' }, { subjectToken: 's' })).toThrowError(expect.objectContaining({ code: 'ERR_STS_USAGE' }));
  });
});

describe('processTokenResponse', () => {
  it('turns a 200 into a credential whose expiry is anchored at the given clock', async () => {
    const res = json(200, { access_token: 'eyJ.x.y', issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_type: 'Bearer', expires_in: 600, scope: 'argo:submit argo:read', namespace: 'ci' }, { 'x-request-id': 'r-1' });
    expect(await processTokenResponse(res, NOW_MS)).toEqual({
      accessToken: 'eyJ.x.y', tokenType: 'Bearer', issuedTokenType: 'urn:ietf:params:oauth:token-type:jwt', expiresIn: 600,
      expiresAt: NOW_MS + 600_000, scopes: ['argo:submit', 'argo:read'], namespace: 'ci', requestId: 'r-1',
    });
  });

  it('turns the broker OAuth error into an StsRequestError carrying error, check and request_id', async () => {
    const res = json(400, { error: 'invalid_request', error_description: 'the token expired 95 s ago (leeway 60 s)', check: 'expiry', request_id: 'req-7' });
    const err = await processTokenResponse(res, NOW_MS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StsRequestError);
    expect(err).toMatchObject({ code: 'ERR_STS_REFUSED', status: 400, error: 'invalid_request', check: 'expiry', requestId: 'req-7', retryable: false });
  });

  it('reads Retry-After from a 429 and marks it retryable', async () => {
    const err = await processTokenResponse(json(429, { error: 'temporarily_unavailable', check: 'rate_limit', request_id: 'r' }, { 'retry-after': '7' }), NOW_MS).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryAfter: 7, retryable: true, check: 'rate_limit' });
  });

  it('treats a non-JSON error page and a 200 without access_token as bad responses, not refusals', async () => {
    const html = new Response('<html>bad gateway</html>', { status: 502 });
    await expect(processTokenResponse(html, NOW_MS)).rejects.toMatchObject({ code: 'ERR_STS_BAD_RESPONSE' });
    await expect(processTokenResponse(json(200, { token_type: 'Bearer', expires_in: 5 }), NOW_MS)).rejects.toBeInstanceOf(StsTransportError);
  });
});

describe('processTokenResponse with a hostile endpoint', () => {
  it('stops reading a body that grows past the cap, declared or not', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(chunk);
      },
    });
    await expect(processTokenResponse(new Response(endless, { status: 200 }), NOW_MS)).rejects.toMatchObject({ code: 'ERR_STS_BAD_RESPONSE' });
    expect(pulled).toBeLessThan(10);
    const declared = new Response('{}', { status: 200, headers: { 'content-length': String(10 * 1024 * 1024) } });
    await expect(processTokenResponse(declared, NOW_MS)).rejects.toMatchObject({ code: 'ERR_STS_BAD_RESPONSE' });
  });
});

describe('exchange', () => {
  it('reports a broker that cannot be reached as ERR_STS_UNREACHABLE, naming only its origin', async () => {
    const failing = async () => {
      throw new TypeError('fetch failed');
    };
    const err = await exchange({ broker: 'https://sts.example.com', fetch: failing }, { subjectToken: 'secret-subject' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_STS_UNREACHABLE' });
    expect((err as Error).message).toContain('https://sts.example.com');
    expect((err as Error).message).not.toContain('secret-subject');
  });
});

describe('CredentialCache', () => {
  it('hands out the cached credential until 60 s before expiry, then exchanges again', async () => {
    let now = NOW_MS;
    const cache = new CredentialCache({ clock: () => now });
    let calls = 0;
    const obtain = async () => credential(600, now, `token-${++calls}`);
    expect((await cache.get('k', obtain)).accessToken).toBe('token-1');
    now = NOW_MS + 539_000;
    expect((await cache.get('k', obtain)).accessToken).toBe('token-1');
    now = NOW_MS + 540_000;
    expect((await cache.get('k', obtain)).accessToken).toBe('token-2');
  });

  it('refreshes a short-lived credential half-way through its life', () => {
    expect(refreshAt(credential(60), 60)).toBe(NOW_MS + 30_000);
  });

  it('shares one exchange between concurrent callers and does not remember a failure', async () => {
    const cache = new CredentialCache({ clock: () => NOW_MS });
    let calls = 0;
    const slow = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return credential(600);
    };
    await Promise.all([cache.get('k', slow), cache.get('k', slow), cache.get('k', slow)]);
    expect(calls).toBe(1);
    await expect(cache.get('other', async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect((await cache.get('other', async () => credential(600))).expiresIn).toBe(600);
  });
});

describe('decodeJwtClaims', () => {
  it('reads the claims of a JWT and gives undefined for anything else', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'github:repo:acme/app', namespace: 'ci' })).toString('base64url');
    expect(decodeJwtClaims(`eyJhbGciOiJFUzI1NiJ9.${payload}.sig`)).toEqual({ sub: 'github:repo:acme/app', namespace: 'ci' });
    expect(decodeJwtClaims('not-a-jwt')).toBeUndefined();
    expect(decodeJwtClaims('a.!!!.c')).toBeUndefined();
  });
});
