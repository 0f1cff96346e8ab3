/**
 * A loopback TLS terminator for the test stack: the Node broker serves plain HTTP, and
 * kube-apiserver trusts only https issuers. Accepts TLS on 127.0.0.1:LISTEN with the run's
 * certificate and pipes each connection to 127.0.0.1:UPSTREAM. No product logic.
 *
 *   node test/stack/tls-proxy.ts LISTEN UPSTREAM CERT_FILE KEY_FILE
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer } from 'node:tls';

const [listen, upstream, certFile, keyFile] = process.argv.slice(2);
if (!listen || !upstream || !certFile || !keyFile) {
  process.stderr.write('usage: tls-proxy.ts LISTEN UPSTREAM CERT_FILE KEY_FILE\n');
  process.exit(2);
}

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (client) => {
  const backend = connect(Number(upstream), '127.0.0.1');
  client.pipe(backend).pipe(client);
  client.on('error', () => backend.destroy());
  backend.on('error', () => client.destroy());
});
server.on('tlsClientError', (err) => process.stderr.write(`tls-proxy: client TLS error: ${err.message}\n`));
server.listen(Number(listen), '127.0.0.1', () => process.stderr.write(`tls-proxy: https://127.0.0.1:${listen} -> http://127.0.0.1:${upstream}\n`));
