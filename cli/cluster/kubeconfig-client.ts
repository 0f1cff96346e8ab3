/**
 * Just enough of a kubeconfig to POST SubjectAccessReviews as its current context's user: the
 * cluster's `server` and CA (`certificate-authority-data` or `-authority`, or
 * `insecure-skip-tls-verify`), and the user's bearer `token` / `tokenFile` or client certificate
 * (`client-certificate(-data)`, `client-key(-data)`). Exec and auth-provider plugins are refused
 * with a clear message: run `kubectl` once and use a kubeconfig with a token or certificate.
 * Bodies are capped; the reviewer's credential is never printed.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import type { ReviewPoster } from '../../shared/cluster/access-review.ts';

const MAX_RESPONSE_BYTES = 1024 * 1024;
const TIMEOUT_MS = 15_000;

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

interface Named<T> { name: string; [key: string]: unknown; cluster?: T; user?: T; context?: T }

export function reviewPosterFromKubeconfig(path: string, contextName?: string): { server: string; post: ReviewPoster } {
  let doc: Record<string, unknown>;
  try {
    doc = parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new KubeconfigError(`--kubeconfig ${path}: ${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'}`);
  }
  const base = dirname(resolve(path));
  const find = <T>(kind: 'clusters' | 'users' | 'contexts', name: string, field: 'cluster' | 'user' | 'context'): T => {
    const entry = ((doc[kind] ?? []) as Named<T>[]).find((e) => e.name === name);
    if (!entry?.[field]) throw new KubeconfigError(`--kubeconfig ${path}: no ${field} named ${JSON.stringify(name)}`);
    return entry[field] as T;
  };
  const current = contextName ?? (doc['current-context'] as string | undefined);
  if (!current) throw new KubeconfigError(`--kubeconfig ${path}: no current-context`);
  const context = find<{ cluster: string; user: string }>('contexts', current, 'context');
  const cluster = find<Record<string, unknown>>('clusters', context.cluster, 'cluster');
  const user = find<Record<string, unknown>>('users', context.user, 'user');
  if (user.exec || user['auth-provider']) throw new KubeconfigError(`--kubeconfig ${path}: user ${JSON.stringify(context.user)} uses an exec or auth-provider plugin; give a kubeconfig with a token or client certificate`);
  const file = (value: unknown) => (typeof value === 'string' ? readFileSync(resolve(base, value), 'utf8') : undefined);
  const data = (value: unknown) => (typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined);
  const server = String(cluster.server ?? '');
  const url = new URL('/apis/authorization.k8s.io/v1/subjectaccessreviews', server);
  const ca = data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']);
  const cert = data(user['client-certificate-data']) ?? file(user['client-certificate']);
  const key = data(user['client-key-data']) ?? file(user['client-key']);
  const token = typeof user.token === 'string' ? user.token : file(user.tokenFile)?.trim();
  const insecure = cluster['insecure-skip-tls-verify'] === true;

  const post: ReviewPoster = (body) => new Promise((resolvePost, reject) => {
    const payload = JSON.stringify(body);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
    if (token) headers.authorization = `Bearer ${token}`;
    const options = { method: 'POST', headers, timeout: TIMEOUT_MS, ...(url.protocol === 'https:' ? { ca, cert, key, rejectUnauthorized: !insecure } : {}) };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
      let size = 0;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          // not JSON: the status says enough
        }
        resolvePost({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} in ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
  return { server: url.origin, post };
}
