import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Credential } from '../../client/index.ts';
import { argoServerVariables, renderCredential } from '../../cli/exchange/render-credential.ts';

const credential: Credential = {
  accessToken: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', tokenType: 'Bearer', issuedTokenType: 'urn:ietf:params:oauth:token-type:jwt',
  expiresIn: 600, expiresAt: Date.UTC(2026, 10, 23, 12, 10, 0, 500), scopes: ['argo:read'], namespace: 'ci', requestId: undefined,
};

describe('argoServerVariables', () => {
  it.each([
    ['https://argo.example.com', { ARGO_SERVER: 'argo.example.com:443', ARGO_SECURE: 'true', ARGO_HTTP1: 'true' }],
    ['https://argo.example.com:2746/', { ARGO_SERVER: 'argo.example.com:2746', ARGO_SECURE: 'true', ARGO_HTTP1: 'true' }],
    ['http://127.0.0.1:2746', { ARGO_SERVER: '127.0.0.1:2746', ARGO_SECURE: 'false', ARGO_HTTP1: 'true' }],
    // No trailing slash: the Argo CLI builds "https://" + ARGO_SERVER + ARGO_BASE_HREF + "/api/v1/…".
    ['https://ops.example.com/argo', { ARGO_SERVER: 'ops.example.com:443', ARGO_SECURE: 'true', ARGO_HTTP1: 'true', ARGO_BASE_HREF: '/argo' }],
    ['https://ops.example.com/argo/', { ARGO_SERVER: 'ops.example.com:443', ARGO_SECURE: 'true', ARGO_HTTP1: 'true', ARGO_BASE_HREF: '/argo' }],
  ])('turns %s into the Argo CLI\'s host:port form', (url, expected) => {
    expect(argoServerVariables(url)).toEqual(expected);
  });
});

describe('renderCredential', () => {
  it('writes env lines a POSIX shell reads back exactly, even for values with quotes, dollars and backticks', () => {
    const hostile = { ...credential, namespace: 'a"$(touch /tmp/pwned)`id`\\' };
    const text = renderCredential('env', hostile, { argoServer: 'https://argo.example.com', target: 'argo-prod' });
    const out = execFileSync('sh', ['-c', `${text}printf '%s\\n' "$ARGO_TOKEN" "$ARGO_NAMESPACE" "$ARGO_SERVER"`], { encoding: 'utf8', env: {} });
    expect(out.split('\n').slice(0, 3)).toEqual([`Bearer ${credential.accessToken}`, hostile.namespace, 'argo.example.com:443']);
  });

  it('writes an ExecCredential whose expirationTimestamp is RFC 3339 without fractional seconds', () => {
    expect(JSON.parse(renderCredential('exec-credential', credential, { target: 'argo-prod' }))).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: credential.accessToken, expirationTimestamp: '2026-11-23T12:10:00Z' },
    });
  });

  it('prints the raw token alone, and json with expiry and argo_server', () => {
    expect(renderCredential('token', credential, { target: 'x' })).toBe(`${credential.accessToken}\n`);
    expect(JSON.parse(renderCredential('json', credential, { target: 'x', argoServer: 'https://argo.example.com' }))).toMatchObject({
      access_token: credential.accessToken, expires_in: 600, expires_at: '2026-11-23T12:10:00.500Z', scope: 'argo:read', namespace: 'ci', argo_server: 'https://argo.example.com',
    });
  });
});
