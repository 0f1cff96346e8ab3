// Node runtime comparison for docs/performance.md: P-256 sign/verify/ECDH, P-384 and Ed25519 sign per CPU-second.
// node bench/p256-runtime.mjs   (run it with each runtime binary to compare)
import { generateKeyPairSync, sign, verify, createECDH, generateKeyPairSync as g } from 'node:crypto';
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const data = Buffer.alloc(600, 'x');
const sig = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
function rate(label, fn) {
  for (let i = 0; i < 1000; i++) fn();
  const t0 = process.cpuUsage(); const w0 = performance.now(); let n = 0;
  while (performance.now() - w0 < 700) { fn(); n++; }
  const c = process.cpuUsage(t0); return `${label} ${Math.round(n / ((c.user + c.system) / 1e6))}`;
}
const a = createECDH('prime256v1'); a.generateKeys(); const b = createECDH('prime256v1'); b.generateKeys(); const bp = b.getPublicKey();
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
const ed = generateKeyPairSync('ed25519').privateKey;
console.log([process.versions.openssl,
  rate('p256-sign', () => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
  rate('p256-verify', () => verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig)),
  rate('p256-ecdh', () => a.computeSecret(bp)),
  rate('p384-sign', () => sign('sha384', data, p384)),
  rate('ed25519-sign', () => sign(null, data, ed)),
].join(' | '));
