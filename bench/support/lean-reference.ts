/**
 * The lean reference broker: the least an exchange can cost on this runtime, as issue 16 defines
 * it. Bare node:http reads the form, node:crypto verifies the subject token's RS256 signature
 * with the IdP's key and signs an ES256 JWT of the same shape argo-sts mints, one JSON audit line
 * goes to a file (as argo-sts's stdout does in the bench), and the token answer goes back. No
 * policy, no presets, no findings: the floor argo-sts is held to, measured in the same run.
 *
 *   node bench/support/lean-reference.ts AUDIT_FILE     (BENCH_IDP_JWK: the IdP's public JWK)
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { derToP1363 } from '../../functions/node/ecdsa-signature.ts';

const idpKey = createPublicKey({ key: JSON.parse(process.env.BENCH_IDP_JWK ?? '{}') as import('node:crypto').JsonWebKey, format: 'jwk' });
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));
const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'lean', typ: 'JWT' })).toString('base64url');
const audit = openSync(process.argv[2] ?? '/dev/null', 'a');

function refuse(res: import('node:http').ServerResponse, error: string): void {
  res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ error }));
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('subject_token') ?? '';
    const dot = token.lastIndexOf('.');
    const first = token.indexOf('.');
    if (first < 0 || dot <= first) return refuse(res, 'invalid_request');
    if (!verify('sha256', Buffer.from(token.slice(0, dot)), idpKey, Buffer.from(token.slice(dot + 1), 'base64url'))) return refuse(res, 'invalid_request');
    const claims = JSON.parse(Buffer.from(token.slice(first + 1, dot), 'base64url').toString('utf8')) as { sub: string; exp: number };
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp <= now) return refuse(res, 'invalid_request');
    const jti = randomUUID();
    const payload = Buffer.from(JSON.stringify({
      iss: 'https://sts.bench.example', sub: `github:${claims.sub}`, aud: 'kubernetes', iat: now, nbf: now, exp: now + 600, jti,
      groups: ['argo-sts:ci:argo:submit', 'argo-sts:ci:argo:read'], scope: 'argo:submit argo:read', namespace: 'ci',
    })).toString('base64url');
    const input = `${header}.${payload}`;
    // The cheapest path on this runtime: a bare KeyObject, DER converted to r ‖ s (as argo-sts does).
    const signature = Buffer.from(derToP1363(sign('sha256', Buffer.from(input), signingKey), 32)!).toString('base64url');
    writeSync(audit, `${JSON.stringify({ type: 'audit', time: new Date(now * 1000).toISOString(), decision: 'issued', sub: claims.sub, jti, subject_token_sha256: createHash('sha256').update(token).digest('hex') })}\n`);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({
      access_token: `${input}.${signature}`, issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_type: 'Bearer', expires_in: 600, scope: 'argo:submit argo:read', namespace: 'ci',
    }));
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token` })}\n`);
process.once('SIGTERM', () => server.close(() => process.exit(0)));
