import fc from 'fast-check';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type MintInput, mintToken, pipelineUsername, serializeClaims } from '../../shared/targets/mint-token.ts';
import { generatePrivateJwks, loadSigningKeys, type SigningKeys } from '../../shared/keys/signing-keys.ts';

const NOW = 1_790_000_000;
let keys: SigningKeys;

beforeAll(async () => {
  keys = await loadSigningKeys('ES256', JSON.stringify(await generatePrivateJwks('ES256')));
});

function input(overrides: Partial<MintInput> = {}): MintInput {
  return {
    issuer: 'https://sts.example.com',
    audience: 'kubernetes',
    subject: 'github:repo:acme/app:ref:refs/heads/main',
    now: NOW,
    ttl: 900,
    jti: '5f0c1d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f',
    namespace: 'ci',
    scopes: ['argo:submit', 'argo:read'],
    groups: ['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read'],
    ...overrides,
  };
}

function segments(token: string): [string, string, string] {
  const parts = token.split('.');
  expect(parts).toHaveLength(3);
  return parts as [string, string, string];
}

/** Decodes base64 with the standard alphabet only: atob refuses `-` and `_`. */
function decodeStandardBase64(segment: string): string {
  const binary = atob(segment);
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

function verify(token: string, signingKeys: SigningKeys = keys) {
  return jwtVerify(token, createLocalJWKSet({ keys: [...signingKeys.jwks.keys] }), { currentDate: new Date(NOW * 1000) });
}

describe('mintToken: the kubernetes-oidc JWT', () => {
  it('carries iss, sub, aud, iat, nbf, exp, jti, groups, scope and namespace', async () => {
    const minted = await mintToken(keys, input());
    const expected = {
      iss: 'https://sts.example.com',
      sub: 'github:repo:acme/app:ref:refs/heads/main',
      aud: 'kubernetes',
      iat: NOW,
      nbf: NOW,
      exp: NOW + 900,
      jti: '5f0c1d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f',
      groups: ['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read'],
      scope: 'argo:submit argo:read',
      namespace: 'ci',
    };
    expect(minted.claims).toEqual(expected);
    expect(minted.expiresAt).toBe(NOW + 900);
    const { payload } = await verify(minted.token);
    expect(payload).toEqual(expected);
  });

  it('has a header with alg, the current kid and typ JWT', async () => {
    const { token } = await mintToken(keys, input());
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: keys.kid, typ: 'JWT' });
  });

  it('adds preferred_username, email and act only when given', async () => {
    const plain = await mintToken(keys, input());
    expect(plain.claims).not.toHaveProperty('preferred_username');
    expect(plain.claims).not.toHaveProperty('email');
    expect(plain.claims).not.toHaveProperty('email_verified');
    expect(plain.claims).not.toHaveProperty('act');

    const full = await mintToken(keys, input({ preferredUsername: 'alice', email: 'alice@example.com', act: { sub: 'keycloak:agent-7' } }));
    const { payload } = await verify(full.token);
    expect(payload).toMatchObject({ preferred_username: 'alice', email: 'alice@example.com', email_verified: true, act: { sub: 'keycloak:agent-7' } });
  });

  it('writes an empty scope list as an empty scope string', async () => {
    expect((await mintToken(keys, input({ scopes: [], groups: [] }))).claims).toMatchObject({ scope: '', groups: [] });
  });

  it('is not valid before now nor after now + ttl', async () => {
    const { token } = await mintToken(keys, input({ ttl: 600 }));
    const jwks = createLocalJWKSet({ keys: [...keys.jwks.keys] });
    await expect(jwtVerify(token, jwks, { currentDate: new Date((NOW + 599) * 1000) })).resolves.toBeDefined();
    await expect(jwtVerify(token, jwks, { currentDate: new Date((NOW + 600) * 1000) })).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
    await expect(jwtVerify(token, jwks, { currentDate: new Date((NOW - 1) * 1000) })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });

  it('signs with RSA keys too', async () => {
    const rsa = await loadSigningKeys('RS256', JSON.stringify(await generatePrivateJwks('RS256')));
    const { token } = await mintToken(rsa, input());
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: rsa.kid });
    await expect(verify(token, rsa)).resolves.toBeDefined();
  });

  it('does not verify with another key', async () => {
    const other = await loadSigningKeys('ES256', JSON.stringify(await generatePrivateJwks('ES256')));
    const { token } = await mintToken(keys, input());
    await expect(verify(token, other)).rejects.toBeDefined();
  });
});

describe('serializeClaims: JSON whose base64 is the same in both alphabets', () => {
  it.each([
    ['>', '\\u003e'],
    ['?', '\\u003f'],
    ['~', '\\u007e'],
    ['\u007f', '\\u007f'],
    ['é', '\\u00e9'],
    ['€', '\\u20ac'],
    ['😀', '\\ud83d\\ude00'],
  ])('writes %j as the escape %s', (char, escape) => {
    expect(serializeClaims({ v: `a${char}b` })).toBe(`{"v":"a${escape}b"}`);
  });

  it('leaves other printable ASCII alone', () => {
    const ascii = 'repo:acme/app:ref:refs/heads/main-1_2+3=4@x.y!#$%&()*,;<[]^`{|}';
    expect(serializeClaims({ sub: ascii })).toBe(JSON.stringify({ sub: ascii }));
  });

  it('produces pure ASCII that parses back to the same value', () => {
    const claims = { sub: 'ü>?~\u007f😀\u2028', groups: ['a?b', 'ça'], n: 1, b: true, o: { 'k>': 'v~' } };
    const json = serializeClaims(claims);
    expect(json).toMatch(/^[\x20-\x7e]*$/);
    expect(json).not.toMatch(/[>?~]/);
    expect(JSON.parse(json)).toEqual(claims);
  });
});

describe('mintToken: property — the payload segment never uses - or _', () => {
  /** Characters that put `-` or `_` into base64url, plus JSON's own escapes and multi-byte text. */
  const risky = fc.constantFrom('>', '?', '~', '\u007f', 'é', 'ÿ', '€', '😀', '👩‍💻', '\u2028', '\ufeff', '"', '\\', '\n', '\u0000', '-', '_', '/', '+');
  const char = fc.oneof(
    { weight: 3, arbitrary: risky },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  );
  const text = fc.string({ unit: char, maxLength: 40 });
  const mintInput = fc.record({
    issuer: text,
    audience: text,
    subject: text,
    ttl: fc.integer({ min: 1, max: 86_400 }),
    jti: text,
    namespace: text,
    scopes: fc.array(text, { maxLength: 5 }),
    groups: fc.array(text, { maxLength: 5 }),
    preferredUsername: fc.option(text, { nil: undefined }),
    email: fc.option(text, { nil: undefined }),
    act: fc.option(fc.record({ sub: text }), { nil: undefined }),
  });

  it('for random claim sets, the payload is standard-base64 decodable to the same JSON, and the token verifies with jose', async () => {
    let plainJsonWouldUseUrlSafeChars = 0;
    await fc.assert(
      fc.asyncProperty(mintInput, async (generated) => {
        const minted = await mintToken(keys, { ...generated, now: NOW });
        const payload = segments(minted.token)[1];
        expect(payload).not.toMatch(/[-_]/);
        expect(JSON.parse(decodeStandardBase64(payload))).toEqual(minted.claims);
        const { payload: verified } = await verify(minted.token);
        expect(verified).toEqual(minted.claims);
        expect(verified).toMatchObject({ sub: generated.subject, namespace: generated.namespace, groups: generated.groups });
        if (/[-_]/.test(Buffer.from(JSON.stringify(minted.claims)).toString('base64url'))) plainJsonWouldUseUrlSafeChars++;
      }),
      { numRuns: 300, seed: 8693 },
    );
    // the generator does exercise the hazard: plain JSON.stringify would have failed on some runs
    expect(plainJsonWouldUseUrlSafeChars).toBeGreaterThan(0);
  });
});

describe('pipelineUsername (the preferred_username of a pipeline token that has none)', () => {
  it('names the repository or project under the idp, for Argo\'s creator-preferred-username label', () => {
    expect(pipelineUsername({ name: 'github', preset: 'github-actions' }, { repository: 'acme/app' })).toBe('github/acme/app');
    expect(pipelineUsername({ name: 'gitlab', preset: 'gitlab' }, { project_path: 'platform/ci/pipelines' })).toBe('gitlab/platform/ci/pipelines');
    expect(pipelineUsername({ name: 'keycloak', preset: 'keycloak' }, { repository: 'acme/app' })).toBeUndefined();
    expect(pipelineUsername({ name: 'github', preset: 'github-actions' }, {})).toBeUndefined();
  });

  it('fits a 63-character label: a long name keeps its head and ends with a hash of the whole', () => {
    const a = pipelineUsername({ name: 'github', preset: 'github-actions' }, { repository: 'acme-platform-engineering/payments-reconciliation-service' })!;
    const b = pipelineUsername({ name: 'github', preset: 'github-actions' }, { repository: 'acme-platform-engineering/payments-reconciliation-servicf' })!;
    expect(a).toHaveLength(63);
    expect(a.startsWith('github/acme-platform-engineering/payments-reconciliati')).toBe(true);
    expect(a).toMatch(/-[0-9a-f]{8}$/);
    expect(b).not.toBe(a);
  });
});
