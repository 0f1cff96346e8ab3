// Node runtime comparison for docs/performance.md ("The runtime under it"): microseconds of CPU
// per one-shot node:crypto call, the key handed as an options object and as a bare KeyObject.
//   node bench/p256-runtime.mjs        (run it with each runtime's binary to compare)
import { constants, createECDH, generateKeyPairSync, sign, verify } from 'node:crypto';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const data = Buffer.alloc(700, 'x');
const rsaSignature = sign('sha256', data, rsa.privateKey);
const a = createECDH('prime256v1');
a.generateKeys();
const b = createECDH('prime256v1');
b.generateKeys();
const peer = b.getPublicKey();

const CALLS = 10_000;
const out = [process.version, `OpenSSL ${process.versions.openssl}`];
function measure(label, fn) {
  for (let i = 0; i < 1_000; i++) fn();
  const before = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) fn();
  const used = process.cpuUsage(before);
  out.push(`${label} ${((used.user + used.system) / CALLS).toFixed(1)} µs`);
}
measure('ES256 sign {key,dsaEncoding}', () => sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }));
measure('ES256 sign KeyObject', () => sign('sha256', data, ec.privateKey));
measure('RS256 verify {key,padding}', () => verify('sha256', data, { key: rsa.publicKey, padding: constants.RSA_PKCS1_PADDING }, rsaSignature));
measure('RS256 verify KeyObject', () => verify('sha256', data, rsa.publicKey, rsaSignature));
measure('P-256 ECDH', () => a.computeSecret(peer));
console.log(out.join(' | '));
