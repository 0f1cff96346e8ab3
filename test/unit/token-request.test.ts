import { describe, expect, it } from 'vitest';
import { type ErrorCode, StsError, wireErrorFor } from '../../shared/errors.ts';
import { decodeParameters, DRAIN_MAX_BYTES, parseTokenRequest, type RawParameters, readBodyCapped, REQUEST_LIMITS } from '../../shared/exchange/token-request.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from '../../shared/oauth.ts';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

/** The StsError a call throws; fails the test when it returns. */
async function refusal(action: () => unknown): Promise<StsError> {
  try {
    await action();
  } catch (err) {
    if (err instanceof StsError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

async function expectRefused(action: () => unknown, code: ErrorCode, message?: RegExp): Promise<void> {
  const err = await refusal(action);
  expect(err.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
}

function valid(overrides: RawParameters = {}): RawParameters {
  return { grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: TOKEN, subject_token_type: TOKEN_TYPE_ID_TOKEN, ...overrides };
}

function post(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request('https://sts.example.com/token', { method: 'POST', body, headers, duplex: 'half' } as RequestInit);
}

/** A body stream of `chunks` chunks of `size` bytes, counting pulls and noting a cancel. */
function countingStream(size: number, chunks = Number.POSITIVE_INFINITY) {
  const state = { pulls: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulls >= chunks) {
        controller.close();
        return;
      }
      state.pulls++;
      controller.enqueue(new Uint8Array(size).fill(0x61));
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

describe('readBodyCapped: the body is read with a 64 KiB cap', () => {
  it('reads a small body as text', async () => {
    expect(await readBodyCapped(post('grant_type=x&scope=argo%3Aread'))).toBe('grant_type=x&scope=argo%3Aread');
  });

  it('reads an absent body as the empty string', async () => {
    expect(await readBodyCapped(new Request('https://sts.example.com/token', { method: 'POST' }))).toBe('');
  });

  it('accepts a body of exactly 64 KiB', async () => {
    expect((await readBodyCapped(post('a'.repeat(64 * 1024)))).length).toBe(64 * 1024);
  });

  it('refuses a body of 64 KiB + 1 byte', async () => {
    await expectRefused(() => readBodyCapped(post('a'.repeat(64 * 1024 + 1))), 'ERR_REQUEST_TOO_LARGE');
  });

  it('refuses a streamed body without content-length once it passes the cap, drains at most DRAIN_MAX_BYTES more, then cancels', async () => {
    const { stream, state } = countingStream(1024);
    const request = post(stream);
    expect(request.headers.get('content-length')).toBeNull();
    await expectRefused(() => readBodyCapped(request), 'ERR_REQUEST_TOO_LARGE', /65536 bytes/);
    // 64 chunks fill the cap exactly; the 65th passes it; the rest is read and dropped up to
    // the drain bound (so the client can read the 400), and an endless stream is then cancelled
    expect(state.pulls).toBeLessThanOrEqual(66 + DRAIN_MAX_BYTES / 1024 + 1);
    expect(state.cancelled).toBe(true);
  });

  it('drains the rest of a body a little over the cap, leaving the stream unlocked and not cancelled', async () => {
    const { stream, state } = countingStream(1024, 64 + 200);
    const request = post(stream);
    await expectRefused(() => readBodyCapped(request), 'ERR_REQUEST_TOO_LARGE');
    expect(state.cancelled).toBe(false);
    expect(request.body!.locked).toBe(false);
  });

  it('refuses a declared content-length over the cap without touching the stream', async () => {
    const { stream, state } = countingStream(1024);
    const request = new Request('https://sts.example.com/token', {
      method: 'POST', body: stream, headers: { 'content-length': String(1024 * 1024) }, duplex: 'half',
    } as RequestInit);
    await expectRefused(() => readBodyCapped(request), 'ERR_REQUEST_TOO_LARGE');
    expect(request.body!.locked).toBe(false);
    expect(state.cancelled).toBe(false);
  });

  it('accepts a streamed body without content-length that stays under the cap', async () => {
    const { stream } = countingStream(1024, 64);
    expect((await readBodyCapped(post(stream))).length).toBe(64 * 1024);
  });

  it('refuses a declared content-length over the cap before reading anything', async () => {
    const { stream, state } = countingStream(16, 1);
    await expectRefused(() => readBodyCapped(post(stream, { 'content-length': String(64 * 1024 + 1) })), 'ERR_REQUEST_TOO_LARGE');
    expect(state.pulls).toBe(0);
  });

  it('does not trust a small declared content-length: the bytes read are counted', async () => {
    const { stream } = countingStream(1024);
    await expectRefused(() => readBodyCapped(post(stream, { 'content-length': '10' })), 'ERR_REQUEST_TOO_LARGE');
  });

  it('honours a smaller cap passed in', async () => {
    await expectRefused(() => readBodyCapped(post('abcdef'), 5), 'ERR_REQUEST_TOO_LARGE');
  });

  it('refuses a body that is not UTF-8 as malformed', async () => {
    await expectRefused(() => readBodyCapped(post(new Uint8Array([0x61, 0xff, 0xfe]))), 'ERR_REQUEST_MALFORMED', /UTF-8/);
  });

  it('maps a too-large body to invalid_request', () => {
    expect(wireErrorFor('ERR_REQUEST_TOO_LARGE')).toBe('invalid_request');
    expect(REQUEST_LIMITS.maxBodyBytes).toBe(65536);
  });
});

describe('decodeParameters: form-encoded or JSON', () => {
  it('decodes a form body', () => {
    expect(decodeParameters(FORM, 'grant_type=g&subject_token=t&scope=argo%3Aread+argo%3Asubmit')).toEqual({
      grant_type: 'g', subject_token: 't', scope: 'argo:read argo:submit',
    });
  });

  it('decodes a JSON body', () => {
    expect(decodeParameters(JSON_TYPE, '{"grant_type":"g","subject_token":"t","namespace":"ci"}')).toEqual({
      grant_type: 'g', subject_token: 't', namespace: 'ci',
    });
  });

  it.each([
    'application/x-www-form-urlencoded; charset=UTF-8',
    'Application/X-WWW-Form-Urlencoded',
    ' application/x-www-form-urlencoded ;charset=utf-8',
  ])('accepts the form content type %j', (contentType) => {
    expect(decodeParameters(contentType, 'audience=argo-prod')).toEqual({ audience: 'argo-prod' });
  });

  it.each(['application/json; charset=utf-8', 'APPLICATION/JSON'])('accepts the JSON content type %j', (contentType) => {
    expect(decodeParameters(contentType, '{"audience":"argo-prod"}')).toEqual({ audience: 'argo-prod' });
  });

  it.each([null, '', 'text/plain', 'multipart/form-data; boundary=x', 'application/jwt', 'application/json-patch+json'])(
    'refuses the content type %j as malformed',
    async (contentType) => {
      await expectRefused(() => decodeParameters(contentType, 'audience=argo-prod'), 'ERR_REQUEST_MALFORMED', /content type/);
    },
  );

  it('refuses a repeated form parameter', async () => {
    await expectRefused(() => decodeParameters(FORM, 'scope=argo%3Aread&audience=a&scope=argo%3Asubmit'), 'ERR_REQUEST_MALFORMED', /scope is repeated/);
  });

  it('refuses a repeated form parameter even when both values are empty', async () => {
    await expectRefused(() => decodeParameters(FORM, 'audience=&audience='), 'ERR_REQUEST_MALFORMED', /audience is repeated/);
  });

  it('refuses a JSON parameter given as an array (the JSON form of repetition)', async () => {
    await expectRefused(() => decodeParameters(JSON_TYPE, '{"audience":["argo-prod","argo-dev"]}'), 'ERR_REQUEST_MALFORMED', /audience is repeated/);
  });

  it('refuses a JSON parameter whose member name appears twice (JSON.parse would keep only the last)', async () => {
    await expectRefused(
      () => decodeParameters(JSON_TYPE, '{"audience":"argo-dev","subject_token":"t","audience":"argo-prod"}'),
      'ERR_REQUEST_MALFORMED',
      /audience is repeated/,
    );
    await expectRefused(
      () => decodeParameters(JSON_TYPE, '{ "scope" : "a", "scop\\u0065" : "b" }'),
      'ERR_REQUEST_MALFORMED',
      /scope is repeated/,
    );
  });

  it('does not mistake a repeated name inside a nested value for a repeated parameter', () => {
    expect(decodeParameters(JSON_TYPE, '{"audience":"argo-prod","extra":{"audience":"x","audience":"y"},"note":"\\"audience\\":"}')).toEqual({
      audience: 'argo-prod',
    });
  });

  it('ignores unknown parameters, repeated or not, in a form body', () => {
    expect(decodeParameters(FORM, 'client_id=ci&client_id=again&foo=bar&audience=argo-prod')).toEqual({ audience: 'argo-prod' });
  });

  it('ignores unknown parameters of any type in a JSON body', () => {
    expect(decodeParameters(JSON_TYPE, '{"audience":"argo-prod","client_id":["a","b"],"extra":{"x":1},"n":null}')).toEqual({ audience: 'argo-prod' });
  });

  it('turns a JSON number into its decimal string', () => {
    expect(decodeParameters(JSON_TYPE, '{"requested_ttl":600}')).toEqual({ requested_ttl: '600' });
  });

  it.each(['null', 'true', '{"a":1}'])('refuses a JSON parameter whose value is %s', async (value) => {
    await expectRefused(() => decodeParameters(JSON_TYPE, `{"scope":${value}}`), 'ERR_REQUEST_MALFORMED', /scope must be a string/);
  });

  it.each(['[]', '"grant_type"', '42', 'null'])('refuses the JSON body %s that is not an object', async (body) => {
    await expectRefused(() => decodeParameters(JSON_TYPE, body), 'ERR_REQUEST_MALFORMED', /must be an object/);
  });

  it('refuses a JSON body that does not parse', async () => {
    await expectRefused(() => decodeParameters(JSON_TYPE, '{"audience":'), 'ERR_REQUEST_MALFORMED', /not valid JSON/);
  });

  it('does not let a __proto__ member set anything', () => {
    const params = decodeParameters(JSON_TYPE, '{"__proto__":{"audience":"argo-prod"}}');
    expect(params).toEqual({});
    expect(params.audience).toBeUndefined();
  });
});

describe('parseTokenRequest: the RFC 8693 parameters', () => {
  it('parses a minimal request, defaulting the requested token type to jwt', () => {
    expect(parseTokenRequest(valid())).toEqual({
      subjectToken: TOKEN,
      subjectTokenType: TOKEN_TYPE_ID_TOKEN,
      actorToken: undefined,
      actorTokenType: undefined,
      audience: undefined,
      scopes: undefined,
      namespace: undefined,
      requestedTtl: undefined,
      requestedTokenType: TOKEN_TYPE_JWT,
    });
  });

  it('parses every parameter', () => {
    expect(parseTokenRequest(valid({
      actor_token: TOKEN,
      actor_token_type: TOKEN_TYPE_JWT,
      audience: 'argo-prod',
      scope: 'argo:read argo:submit',
      namespace: 'ci',
      requested_ttl: '300',
      requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
    }))).toEqual({
      subjectToken: TOKEN,
      subjectTokenType: TOKEN_TYPE_ID_TOKEN,
      actorToken: TOKEN,
      actorTokenType: TOKEN_TYPE_JWT,
      audience: 'argo-prod',
      scopes: ['argo:read', 'argo:submit'],
      namespace: 'ci',
      requestedTtl: 300,
      requestedTokenType: TOKEN_TYPE_ACCESS_TOKEN,
    });
  });

  it('refuses a request without grant_type as malformed', async () => {
    const { grant_type: _g, ...rest } = valid();
    await expectRefused(() => parseTokenRequest(rest), 'ERR_REQUEST_MALFORMED', /grant_type/);
  });

  it('refuses another grant_type as unsupported_grant_type', async () => {
    await expectRefused(() => parseTokenRequest(valid({ grant_type: 'client_credentials' })), 'ERR_GRANT_TYPE_UNSUPPORTED');
    expect(wireErrorFor('ERR_GRANT_TYPE_UNSUPPORTED')).toBe('unsupported_grant_type');
  });

  it('refuses a missing or empty subject_token', async () => {
    await expectRefused(() => parseTokenRequest(valid({ subject_token: undefined })), 'ERR_REQUEST_MALFORMED', /subject_token is required/);
    await expectRefused(() => parseTokenRequest(valid({ subject_token: '' })), 'ERR_REQUEST_MALFORMED', /subject_token is required/);
  });

  it.each([TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT, TOKEN_TYPE_ACCESS_TOKEN])('accepts the subject_token_type %s', (type) => {
    expect(parseTokenRequest(valid({ subject_token_type: type })).subjectTokenType).toBe(type);
  });

  it('refuses a missing or unsupported subject_token_type', async () => {
    await expectRefused(() => parseTokenRequest(valid({ subject_token_type: undefined })), 'ERR_REQUEST_MALFORMED', /subject_token_type is required/);
    await expectRefused(() => parseTokenRequest(valid({ subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' })), 'ERR_REQUEST_MALFORMED');
  });

  it('refuses requested_token_type id_token', async () => {
    await expectRefused(() => parseTokenRequest(valid({ requested_token_type: TOKEN_TYPE_ID_TOKEN })), 'ERR_REQUEST_MALFORMED', /requested_token_type/);
  });

  it('refuses resource: targets are named by audience', async () => {
    await expectRefused(() => parseTokenRequest(valid({ resource: 'https://argo.example.com' })), 'ERR_REQUEST_MALFORMED', /resource/);
  });

  it('requires actor_token_type with actor_token, and refuses actor_token_type alone', async () => {
    await expectRefused(() => parseTokenRequest(valid({ actor_token: TOKEN })), 'ERR_REQUEST_MALFORMED', /actor_token_type is required/);
    await expectRefused(() => parseTokenRequest(valid({ actor_token_type: TOKEN_TYPE_JWT })), 'ERR_REQUEST_MALFORMED', /without actor_token/);
    await expectRefused(() => parseTokenRequest(valid({ actor_token: TOKEN, actor_token_type: 'urn:x' })), 'ERR_REQUEST_MALFORMED');
  });

  it('treats an empty audience, namespace or actor_token as omitted', () => {
    expect(parseTokenRequest(valid({ audience: '', namespace: '', actor_token: '' }))).toMatchObject({
      audience: undefined, namespace: undefined, actorToken: undefined,
    });
  });

  it('refuses a namespace that is not a Kubernetes name', async () => {
    await expectRefused(() => parseTokenRequest(valid({ namespace: 'Kube_System' })), 'ERR_REQUEST_MALFORMED', /namespace/);
    await expectRefused(() => parseTokenRequest(valid({ namespace: 'a'.repeat(64) })), 'ERR_REQUEST_MALFORMED', /namespace/);
  });

  it('refuses an audience over 253 characters', async () => {
    await expectRefused(() => parseTokenRequest(valid({ audience: 'a'.repeat(254) })), 'ERR_REQUEST_MALFORMED', /audience/);
  });
});

describe('parseTokenRequest: the 16 KiB token cap', () => {
  it('accepts a subject_token of exactly 16 KiB', () => {
    const token = 'a'.repeat(16 * 1024);
    expect(parseTokenRequest(valid({ subject_token: token })).subjectToken).toBe(token);
  });

  it('refuses a subject_token of 16 KiB + 1 byte as too large (invalid_request)', async () => {
    await expectRefused(() => parseTokenRequest(valid({ subject_token: 'a'.repeat(16 * 1024 + 1) })), 'ERR_REQUEST_TOO_LARGE', /subject_token exceeds 16384 bytes/);
  });

  it('measures the token in UTF-8 bytes, not characters', async () => {
    const token = 'é'.repeat(8 * 1024 + 1); // 8193 characters, 16386 bytes
    await expectRefused(() => parseTokenRequest(valid({ subject_token: token })), 'ERR_REQUEST_TOO_LARGE');
  });

  it('applies the same cap to actor_token', async () => {
    await expectRefused(
      () => parseTokenRequest(valid({ actor_token: 'a'.repeat(16 * 1024 + 1), actor_token_type: TOKEN_TYPE_JWT })),
      'ERR_REQUEST_TOO_LARGE',
      /actor_token exceeds/,
    );
  });

  it('checks the size before the token type, so an oversized token is never examined further', async () => {
    await expectRefused(() => parseTokenRequest(valid({ subject_token: 'a'.repeat(20_000), subject_token_type: 'urn:x' })), 'ERR_REQUEST_TOO_LARGE');
  });
});

describe('parseTokenRequest: requested_ttl is a positive integer of seconds', () => {
  it.each([['1', 1], ['600', 600], ['3600', 3600], ['999999999', 999_999_999]])('reads %j as %i', (value, seconds) => {
    expect(parseTokenRequest(valid({ requested_ttl: value })).requestedTtl).toBe(seconds);
  });

  it('reads a JSON number through decodeParameters', () => {
    expect(parseTokenRequest(decodeParameters(JSON_TYPE, JSON.stringify({ ...valid(), requested_ttl: 900 }))).requestedTtl).toBe(900);
  });

  it('treats an empty requested_ttl as omitted', () => {
    expect(parseTokenRequest(valid({ requested_ttl: '' })).requestedTtl).toBeUndefined();
  });

  it.each(['0', '-60', '1.5', '10m', '1h', '1e3', '0x10', ' 60', '60 ', '+60', 'Infinity', '1234567890'])(
    'refuses requested_ttl %j',
    async (value) => {
      await expectRefused(() => parseTokenRequest(valid({ requested_ttl: value })), 'ERR_REQUEST_MALFORMED', /requested_ttl/);
    },
  );
});

describe('parseTokenRequest: scope', () => {
  it.each(['', ' ', '   '])('treats the empty scope %j as omitted', (scope) => {
    expect(parseTokenRequest(valid({ scope })).scopes).toBeUndefined();
  });

  it('splits on spaces, ignoring extra spaces, and removes duplicates in order', () => {
    expect(parseTokenRequest(valid({ scope: '  argo:read   argo:submit argo:read ' })).scopes).toEqual(['argo:read', 'argo:submit']);
  });

  it.each(['argo:read\targo:submit', 'argo:"read"', 'argo\\read', 'argo:réad'])('refuses the scope %j with a character outside RFC 6749 scope-token', async (scope) => {
    await expectRefused(() => parseTokenRequest(valid({ scope })), 'ERR_REQUEST_MALFORMED', /scope/);
  });

  it('accepts 32 scopes and refuses 33', async () => {
    const scopes = Array.from({ length: 33 }, (_, i) => `s${i}`);
    expect(parseTokenRequest(valid({ scope: scopes.slice(0, 32).join(' ') })).scopes).toHaveLength(32);
    await expectRefused(() => parseTokenRequest(valid({ scope: scopes.join(' ') })), 'ERR_REQUEST_MALFORMED', /at most 32 scopes/);
  });
});
