/**
 * The cryptographic limit of an exchange on one core: RS256 verify of a real subject token plus
 * ES256 sign of a real minted payload (both taken from the running broker, so the sizes are the
 * exchange's own), with node:crypto (synchronous) and with jose on WebCrypto — sequentially, and
 * with many calls in flight, since WebCrypto's calls are asynchronous jobs. Each loop is bounded
 * by time and by count, and runs in several rounds interleaved with the others so that noise from
 * the host hits every loop alike; the median round counts. Run as its own process (pinned to the
 * server's core by bench/run.ts):
 *
 *   node bench/crypto-limit.ts '<LimitInput as JSON>'
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, importJWK, type JWK } from 'jose';
import { derToP1363 } from '../functions/node/ecdsa-signature.ts';

export interface LimitInput {
  /** A subject token as the broker receives it. */
  readonly subjectToken: string;
  /** The IdP's public JWK that verifies it. */
  readonly publicJwk: JWK;
  /** A minted token's payload (JSON text), re-signed here with a fresh ES256 key. */
  readonly mintedPayload: string;
  /** Each loop runs this many times, interleaved with the others; the median counts. */
  readonly rounds: number;
  readonly secondsPerLoop: number;
}

export interface OpRates {
  readonly verifyPerSecond: number;
  readonly signPerSecond: number;
  /** One verify plus one sign: 1 / (1/verify + 1/sign). */
  readonly pairPerSecond: number;
}

interface LimitRates {
  readonly nodeCrypto: OpRates;
  readonly joseSequential: OpRates;
  readonly joseConcurrent: OpRates & { readonly inFlight: number };
}

/** Rates per second of wall time, and the same per CPU-second of the measuring process. */
export interface LimitResult extends LimitRates {
  readonly perCpuSecond: LimitRates;
  readonly subjectTokenBytes: number;
  readonly mintedTokenBytes: number;
}

const MAX_OPS_PER_LOOP = 1_000_000;
const IN_FLIGHT = 64;

function pair(verifyPerSecond: number, signPerSecond: number): OpRates {
  const round = (x: number) => Math.round(x);
  return {
    verifyPerSecond: round(verifyPerSecond),
    signPerSecond: round(signPerSecond),
    pairPerSecond: round(1 / (1 / verifyPerSecond + 1 / signPerSecond)),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Operations per second of wall time and per CPU-second of this process (all its threads). */
interface Rate {
  readonly wall: number;
  readonly cpu: number;
}

function rate(n: number, startWall: number, startCpu: NodeJS.CpuUsage): Rate {
  const cpu = process.cpuUsage(startCpu);
  return { wall: n / ((performance.now() - startWall) / 1000), cpu: n / ((cpu.user + cpu.system) / 1e6) };
}

function loopSync(seconds: number, op: () => void): Rate {
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  const startCpu = process.cpuUsage();
  let n = 0;
  while (n < MAX_OPS_PER_LOOP && (n % 64 !== 0 || performance.now() < end)) {
    op();
    n++;
  }
  return rate(n, start, startCpu);
}

async function loopAsync(seconds: number, inFlight: number, op: () => Promise<unknown>): Promise<Rate> {
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  const startCpu = process.cpuUsage();
  let n = 0;
  const lane = async () => {
    while (n < MAX_OPS_PER_LOOP && performance.now() < end) {
      n++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return rate(n, start, startCpu);
}

export async function measureLimit(input: LimitInput): Promise<LimitResult> {
  const { subjectToken, secondsPerLoop: s } = input;
  const dot = subjectToken.lastIndexOf('.');
  const header = JSON.stringify({ alg: 'ES256', kid: 'bench-limit-key-0123456789abcdef0123456789abcdef', typ: 'JWT' });
  const payloadBytes = new TextEncoder().encode(input.mintedPayload);

  // node:crypto: what a JWS costs at the bottom — base64url and one synchronous OpenSSL call.
  const rsaPublic: KeyObject = createPublicKey({ key: input.publicJwk, format: 'jwk' });
  const { privateKey: ecPrivate } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const nodeVerify = () => {
    const signature = Buffer.from(subjectToken.slice(dot + 1), 'base64url');
    if (!verify('sha256', Buffer.from(subjectToken.slice(0, dot)), rsaPublic, signature)) throw new Error('limit: verify failed');
  };
  const encodedHeader = Buffer.from(header).toString('base64url');
  let mintedTokenBytes = 0;
  const nodeSign = () => {
    const input = `${encodedHeader}.${Buffer.from(payloadBytes).toString('base64url')}`;
    // A bare KeyObject and the DER -> r ‖ s conversion: on Node 24.21 the options object
    // ({ key, dsaEncoding }) costs more than the signature (functions/node/ecdsa-signature.ts).
    const sig = Buffer.from(derToP1363(sign('sha256', Buffer.from(input), ecPrivate), 32)!).toString('base64url');
    mintedTokenBytes = input.length + 1 + sig.length;
  };

  // jose on WebCrypto, keys imported once (as the broker does).
  const rsaKey = await importJWK({ ...input.publicJwk, alg: 'RS256' }, 'RS256');
  const ecKey = await importJWK({ ...ecPrivate.export({ format: 'jwk' }), alg: 'ES256' } as JWK, 'ES256');
  const joseVerify = () => compactVerify(subjectToken, rsaKey, { algorithms: ['RS256'] });
  const joseSign = () => new CompactSign(payloadBytes).setProtectedHeader({ alg: 'ES256', kid: 'bench-limit-key-0123456789abcdef0123456789abcdef', typ: 'JWT' }).sign(ecKey);

  const loops = {
    nodeVerify: () => loopSync(s, nodeVerify),
    nodeSign: () => loopSync(s, nodeSign),
    seqVerify: () => loopAsync(s, 1, joseVerify),
    seqSign: () => loopAsync(s, 1, joseSign),
    conVerify: () => loopAsync(s, IN_FLIGHT, joseVerify),
    conSign: () => loopAsync(s, IN_FLIGHT, joseSign),
  };
  const samples: Record<keyof typeof loops, Rate[]> = { nodeVerify: [], nodeSign: [], seqVerify: [], seqSign: [], conVerify: [], conSign: [] };
  for (let round = 0; round < input.rounds; round++) {
    for (const name of Object.keys(loops) as (keyof typeof loops)[]) samples[name].push(await loops[name]());
  }
  const rates = (clock: keyof Rate) => {
    const m = (name: keyof typeof loops) => median(samples[name].map((r) => r[clock]));
    return {
      nodeCrypto: pair(m('nodeVerify'), m('nodeSign')),
      joseSequential: pair(m('seqVerify'), m('seqSign')),
      joseConcurrent: { ...pair(m('conVerify'), m('conSign')), inFlight: IN_FLIGHT },
    };
  };
  return { ...rates('wall'), perCpuSecond: rates('cpu'), subjectTokenBytes: subjectToken.length, mintedTokenBytes };
}

if (import.meta.main) {
  const result = await measureLimit(JSON.parse(process.argv[2]!) as LimitInput);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
