/**
 * A GitHub-Actions-shaped OIDC issuer on loopback for the test stack: discovery and a JWKS on
 * 127.0.0.1:PORT, the public keys read from JWKS_FILE on every request (so a test can rotate
 * them). The matching private key stays in a file the stack tests sign with; this process never
 * signs anything.
 *
 *   node test/stack/ci-idp.ts PORT JWKS_FILE
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, jwksFile] = process.argv.slice(2);
if (!port || !jwksFile) {
  process.stderr.write('usage: ci-idp.ts PORT JWKS_FILE\n');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

createServer((req, res) => {
  const path = new URL(req.url ?? '/', issuer).pathname;
  if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      issuer, jwks_uri: `${issuer}/.well-known/jwks`, subject_types_supported: ['public', 'pairwise'],
      response_types_supported: ['id_token'], id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_owner', 'workflow', 'run_id', 'actor'],
    }));
  } else if (req.method === 'GET' && path === '/.well-known/jwks') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(readFileSync(jwksFile));
  } else {
    res.writeHead(404).end();
  }
}).listen(Number(port), '127.0.0.1', () => process.stderr.write(`ci-idp: ${issuer}\n`));
