/**
 * A loopback Kubernetes API server with the two authentication endpoints argo-sts meets:
 *
 * - TokenRequest: `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` with an
 *   authentication.k8s.io/v1 TokenRequest; answers 201 with `status.token` and
 *   `status.expirationTimestamp`. Like the real server it refuses `expirationSeconds` under 600
 *   (422 Invalid), caps it at `maxExpirationSeconds` (--service-account-max-token-expiration),
 *   defaults empty `audiences` to the API server's own, and checks the caller's bearer token (401)
 *   and RBAC (`create` on `serviceaccounts/token` for that ServiceAccount, else 403).
 * - TokenReview: `POST /apis/authentication.k8s.io/v1/tokenreviews`, so tests can ask "would the
 *   cluster accept this token?" exactly as an admission webhook or Argo Server would.
 *
 * Errors are `Status` objects (kind Status, apiVersion v1, status Failure, reason, code). Tokens
 * are RS256 JWTs with the claims kube-apiserver puts in ServiceAccount tokens.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';

export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

export interface FakeKubernetesOptions {
  /** The broker's bearer token, which may create tokens for `allowed` ServiceAccounts only. */
  readonly brokerToken: string;
  /** "namespace/name" of every ServiceAccount that exists. */
  readonly serviceAccounts: readonly string[];
  /** "namespace/name" the broker's Role allows `create` on `serviceaccounts/token` for. */
  readonly allowed: readonly string[];
  readonly maxExpirationSeconds?: number;
  /** Serve https with this key and certificate (PEM). */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Seconds since the epoch; defaults to the real clock. */
  readonly now?: () => number;
}

export interface FakeKubernetes {
  readonly url: string;
  readonly requests: { path: string; body: Record<string, any> }[];
  /** Answer every request with this status (e.g. 500, 429) until set back to undefined. */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
}

function status(res: ServerResponse, code: number, reason: string, message: string, extra: Record<string, string> = {}) {
  res.writeHead(code, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function startFakeKubernetes(options: FakeKubernetesOptions): Promise<FakeKubernetes> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const requests: FakeKubernetes['requests'] = [];
  let failing: number | undefined;
  const issuer = API_AUDIENCE;

  async function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    let body: Record<string, any> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, any>) : {};
    } catch {
      return status(res, 400, 'BadRequest', 'the body is not JSON');
    }
    requests.push({ path, body });
    if (failing === 429) return status(res, 429, 'TooManyRequests', 'too many requests', { 'retry-after': '7' });
    if (failing !== undefined) return status(res, failing, 'InternalError', 'the fake is failing');
    if (req.headers.authorization !== `Bearer ${options.brokerToken}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    if (req.method !== 'POST') return status(res, 405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    if (!String(req.headers['content-type']).startsWith('application/json')) return status(res, 415, 'UnsupportedMediaType', 'application/json expected');

    const tr = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/.exec(path);
    if (tr) {
      const [ns, name] = [decodeURIComponent(tr[1]!), decodeURIComponent(tr[2]!)];
      const who = `${ns}/${name}`;
      if (!options.allowed.includes(who)) {
        return status(res, 403, 'Forbidden', `serviceaccounts "${name}" is forbidden: User "system:serviceaccount:argo-sts:argo-sts" cannot create resource "serviceaccounts/token" in API group "" in the namespace "${ns}"`);
      }
      if (!options.serviceAccounts.includes(who)) return status(res, 404, 'NotFound', `serviceaccounts "${name}" not found`);
      if (body.apiVersion !== 'authentication.k8s.io/v1' || body.kind !== 'TokenRequest') {
        return status(res, 400, 'BadRequest', 'expected an authentication.k8s.io/v1 TokenRequest');
      }
      const requested = body.spec?.expirationSeconds ?? 3600;
      if (!Number.isInteger(requested) || requested < 600) {
        return status(res, 422, 'Invalid', `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${requested}: may not specify a duration less than 10 minutes`);
      }
      const audiences: string[] = Array.isArray(body.spec?.audiences) && body.spec.audiences.length ? body.spec.audiences : [API_AUDIENCE];
      const seconds = Math.min(requested, options.maxExpirationSeconds ?? 48 * 3600);
      const iat = now();
      const token = await new SignJWT({
        'kubernetes.io': { namespace: ns, serviceaccount: { name, uid: randomUUID() } },
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'fake-sa-key' })
        .setIssuer(issuer)
        .setSubject(`system:serviceaccount:${ns}:${name}`)
        .setAudience(audiences)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + seconds)
        .setJti(randomUUID())
        .sign(privateKey);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name, namespace: ns, creationTimestamp: null },
        spec: { audiences, expirationSeconds: seconds, boundObjectRef: null },
        status: { token, expirationTimestamp: rfc3339(iat + seconds) },
      }));
      return;
    }
    if (path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const audiences: string[] = body.spec?.audiences?.length ? body.spec.audiences : [API_AUDIENCE];
      let reviewStatus: Record<string, unknown>;
      try {
        const { payload } = await jwtVerify(String(body.spec?.token ?? ''), publicKey, { issuer, audience: audiences, currentDate: new Date(now() * 1000) });
        const sa = payload['kubernetes.io'] as { namespace: string; serviceaccount: { name: string; uid: string } };
        reviewStatus = {
          authenticated: true,
          user: {
            username: payload.sub,
            uid: sa.serviceaccount.uid,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'],
          },
          audiences: (Array.isArray(payload.aud) ? payload.aud : [payload.aud]).filter((a) => audiences.includes(String(a))),
        };
      } catch {
        reviewStatus = { authenticated: false, error: 'invalid bearer token' };
      }
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: body.spec, status: reviewStatus }));
      return;
    }
    status(res, 404, 'NotFound', 'the server could not find the requested resource');
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch(() => status(res, 500, 'InternalError', 'fake failure'));
    });
  };
  const server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener) : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    failWith(code) {
      failing = code;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TokenReview against the fake: what the cluster says about a token. */
export async function reviewToken(apiUrl: string, brokerToken: string, token: string, audiences: string[]): Promise<Record<string, any>> {
  const res = await fetch(`${apiUrl}/apis/authentication.k8s.io/v1/tokenreviews`, {
    method: 'POST',
    headers: { authorization: `Bearer ${brokerToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } }),
  });
  return ((await res.json()) as { status: Record<string, any> }).status;
}
