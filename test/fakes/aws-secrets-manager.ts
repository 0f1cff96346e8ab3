/**
 * A loopback AWS Secrets Manager that speaks the service's wire protocol: AWS JSON 1.1 over
 * HTTP POST to `/`, `Content-Type: application/x-amz-json-1.1`, `X-Amz-Target:
 * secretsmanager.GetSecretValue`, requests signed with Signature Version 4. The signature is
 * recomputed from the canonical request (the fake knows the secret access key), so a request the
 * real service would reject for its Authorization header is rejected here too.
 *
 * Errors are JSON bodies with `__type` (ResourceNotFoundException, InvalidSignatureException,
 * UnrecognizedClientException, ...) and status 400, as the service answers them.
 *
 * Versions and stages follow the service: a new value (PutSecretValue) takes AWSCURRENT, the
 * version that had it takes AWSPREVIOUS, and the version that had AWSPREVIOUS loses its stage.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_AWS = {
  region: 'eu-west-1',
  accessKeyId: 'AKIDEXAMPLE0ARGOSTS',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
} as const;

interface Version {
  readonly id: string;
  readonly value: string;
  stages: string[];
}

export interface FakeSecretsManager {
  readonly endpoint: string;
  /** AWS_* variables that point the SDK at this fake. */
  readonly env: Record<string, string>;
  /** Every request, as the fake saw it (target, body, headers) — never a secret value. */
  readonly requests: { target: string | undefined; body: Record<string, unknown>; authorization: string | undefined }[];
  /** PutSecretValue: the value becomes AWSCURRENT. Returns the VersionId. */
  put(secretId: string, value: string): string;
  /** Stages a version AWSPENDING (the first step of a rotation). Returns the VersionId. */
  putPending(secretId: string, value: string): string;
  /** Removes a stage from whichever version carries it. */
  removeStage(secretId: string, stage: string): void;
  /** Answers every request with 500 InternalServiceError while down. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 canonical URIs use it (each path segment encoded once for non-S3). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(decodeURIComponent(segment)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** Verifies a SigV4 signature; returns the `__type` of the error the service would answer, or undefined. */
export function checkSigV4(req: IncomingMessage, body: Buffer, secretAccessKey: string, expected: { region: string; service: string; accessKeyId: string }): string | undefined {
  const auth = req.headers.authorization;
  const match = auth ? AUTH.exec(auth) : null;
  if (!match) return 'IncompleteSignatureException';
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as string[];
  if (accessKeyId !== expected.accessKeyId) return 'UnrecognizedClientException';
  if (region !== expected.region || service !== expected.service) return 'InvalidSignatureException';
  const amzDate = req.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) return 'IncompleteSignatureException';
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'InvalidSignatureException';
  const canonicalHeaders = names.map((name) => {
    const value = req.headers[name];
    const text = Array.isArray(value) ? value.join(',') : (value ?? '');
    return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
  }).join('');
  const url = new URL(req.url ?? '/', 'http://fake');
  const canonicalUri = url.pathname.split('/').map(encodeSegment).join('/') || '/';
  const query = [...url.searchParams].map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)]).sort().map(([k, v]) => `${k}=${v}`).join('&');
  const payloadHash = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : sha256(body);
  if (payloadHash !== sha256(body)) return 'InvalidSignatureException';
  const canonicalRequest = [req.method, canonicalUri, query, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region!), service!), 'aws4_request');
  const expectedSignature = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
  return expectedSignature === signature ? undefined : 'InvalidSignatureException';
}

export async function startFakeSecretsManager(): Promise<FakeSecretsManager> {
  const secrets = new Map<string, Version[]>();
  const requests: FakeSecretsManager['requests'] = [];
  let down = false;

  function versionsOf(secretId: string): Version[] {
    let list = secrets.get(secretId);
    if (!list) secrets.set(secretId, (list = []));
    return list;
  }
  function moveStage(list: Version[], stage: string, to: Version | undefined) {
    for (const v of list) v.stages = v.stages.filter((s) => s !== stage);
    to?.stages.push(stage);
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fail = (type: string, message: string, status = 400) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
        res.end(JSON.stringify({ __type: type, message, Message: message }));
      };
      let parsed: Record<string, unknown> = {};
      try {
        parsed = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        /* reported below */
      }
      const target = req.headers['x-amz-target'] as string | undefined;
      requests.push({ target, body: parsed, authorization: req.headers.authorization });
      if (down) return fail('InternalServiceError', 'the fake is down', 500);
      if (req.method !== 'POST' || req.url !== '/') return fail('UnknownOperationException', 'POST / expected', 404);
      if (req.headers['content-type'] !== 'application/x-amz-json-1.1') return fail('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
      const sigError = checkSigV4(req, body, FAKE_AWS.secretAccessKey, { region: FAKE_AWS.region, service: 'secretsmanager', accessKeyId: FAKE_AWS.accessKeyId });
      if (sigError) return fail(sigError, 'The request signature we calculated does not match the signature you provided.', sigError === 'UnrecognizedClientException' ? 400 : 403);
      if (target !== 'secretsmanager.GetSecretValue') return fail('UnknownOperationException', `unsupported operation ${target}`);
      const { SecretId, VersionStage, VersionId } = parsed as { SecretId?: unknown; VersionStage?: unknown; VersionId?: unknown };
      if (typeof SecretId !== 'string' || SecretId === '') return fail('InvalidParameterException', 'SecretId is required');
      const list = secrets.get(SecretId);
      if (!list || list.length === 0) return fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      const stage = typeof VersionStage === 'string' ? VersionStage : VersionId === undefined ? 'AWSCURRENT' : undefined;
      const version = list.find((v) => (VersionId !== undefined ? v.id === VersionId : v.stages.includes(stage!)));
      if (!version) return fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: " + String(stage));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify({
        ARN: `arn:aws:secretsmanager:${FAKE_AWS.region}:123456789012:secret:${SecretId}-AbCdEf`,
        Name: SecretId,
        VersionId: version.id,
        SecretString: version.value,
        VersionStages: version.stages,
        CreatedDate: Date.now() / 1000,
      }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    env: {
      AWS_REGION: FAKE_AWS.region,
      AWS_ACCESS_KEY_ID: FAKE_AWS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_AWS.secretAccessKey,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
    },
    requests,
    put(secretId, value) {
      const list = versionsOf(secretId);
      const version: Version = { id: randomUUID(), value, stages: [] };
      list.push(version);
      const current = list.find((v) => v.stages.includes('AWSCURRENT'));
      moveStage(list, 'AWSPREVIOUS', current);
      moveStage(list, 'AWSCURRENT', version);
      moveStage(list, 'AWSPENDING', undefined);
      return version.id;
    },
    putPending(secretId, value) {
      const list = versionsOf(secretId);
      const version: Version = { id: randomUUID(), value, stages: [] };
      list.push(version);
      moveStage(list, 'AWSPENDING', version);
      return version.id;
    },
    removeStage(secretId, stage) {
      moveStage(versionsOf(secretId), stage, undefined);
    },
    setDown(value) {
      down = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
