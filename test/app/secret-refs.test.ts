/** Secret references through one module, against a loopback Secrets Manager that checks SigV4. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientSettings } from '../../functions/node/aws-sdk-secrets.ts';
import { nodeSecretStore } from '../../functions/node/secrets.ts';
import { workerSecretStore } from '../../functions/worker/secrets.ts';
import { parseSecretRef, SecretError } from '../../shared/config/secret-refs.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '../fakes/aws-secrets-manager.ts';

let aws: FakeSecretsManager;
let dir: string;
beforeAll(async () => {
  aws = await startFakeSecretsManager();
  dir = mkdtempSync(join(tmpdir(), 'argo-sts-secrets-'));
});
afterAll(async () => {
  await aws.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('parseSecretRef', () => {
  it.each([
    ['env:ARGO_STS_SIGNING_KEYS', { kind: 'env', name: 'ARGO_STS_SIGNING_KEYS' }],
    ['file:/etc/argo-sts/keys#1.json', { kind: 'file', path: '/etc/argo-sts/keys#1.json' }],
    ['aws-secrets-manager:argo-sts/keys', { kind: 'aws-secrets-manager', secretId: 'argo-sts/keys', jsonKey: undefined }],
    ['aws-secrets-manager:arn:aws:secretsmanager:eu-west-1:1:secret:x#token', { kind: 'aws-secrets-manager', secretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:x', jsonKey: 'token' }],
  ])('reads %s', (ref, expected) => {
    expect(parseSecretRef(ref)).toEqual(expected);
  });

  it.each(['vault:x', 'env:1BAD', 'file:', 'aws-secrets-manager:', 'aws-secrets-manager:x#'])('refuses %s', (ref) => {
    expect(() => parseSecretRef(ref)).toThrow(SecretError);
  });
});

describe('the Node secret store', () => {
  it('reads env: and file: references and says which variable is missing', async () => {
    writeFileSync(join(dir, 'token'), 'file-value');
    const store = nodeSecretStore({ PRESENT: 'env-value' });
    expect(await store.resolve('env:PRESENT')).toBe('env-value');
    expect(await store.resolve(`file:${join(dir, 'token')}`)).toBe('file-value');
    await expect(store.resolve('env:ABSENT')).rejects.toThrow('secret env:ABSENT: Node variable ABSENT is not set');
    await expect(store.resolve(`file:${join(dir, 'nope')}`)).rejects.toThrow(/ENOENT/);
    expect(await store.resolveStage('env:PRESENT', 'AWSPREVIOUS')).toBeUndefined();
  });
});

describe.each([
  ['Node (AWS SDK)', 'node', (env: Record<string, string>) => nodeSecretStore(env)],
  ['Workers (SigV4 on fetch)', 'workers', (env: Record<string, string>) => workerSecretStore(env)],
])('aws-secrets-manager: references on %s', (_runtime, tag, store) => {
  it('reads aws-secrets-manager: references with SigV4-signed GetSecretValue calls, and selects #key members', async () => {
    aws.put('cluster/creds', JSON.stringify({ token: 'bearer-value', ca: { pem: 'x' } }));
    const secrets = store(aws.env);
    expect(await secrets.resolve('aws-secrets-manager:cluster/creds#token')).toBe('bearer-value');
    expect(await secrets.resolve('aws-secrets-manager:cluster/creds#ca')).toBe('{"pem":"x"}');
    await expect(secrets.resolve('aws-secrets-manager:cluster/creds#missing')).rejects.toThrow('has no member "missing"');
    const last = aws.requests.at(-1)!;
    expect(last.target).toBe('secretsmanager.GetSecretValue');
    expect(last.body).toEqual({ SecretId: 'cluster/creds', VersionStage: 'AWSCURRENT' });
    expect(last.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0ARGOSTS\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/);
  });

  it('answers undefined for a stage no version carries, and the previous value after a rotation', async () => {
    aws.put(`${tag}/rotating`, 'one');
    const secrets = store(aws.env);
    expect(await secrets.resolveStage(`aws-secrets-manager:${tag}/rotating`, 'AWSPREVIOUS')).toBeUndefined();
    aws.put(`${tag}/rotating`, 'two');
    expect((await secrets.resolveStage(`aws-secrets-manager:${tag}/rotating`, 'AWSCURRENT'))?.value).toBe('two');
    expect((await secrets.resolveStage(`aws-secrets-manager:${tag}/rotating`, 'AWSPREVIOUS'))?.value).toBe('one');
  });

  it('reports a wrong secret access key as the service does, without echoing any secret', async () => {
    aws.put('guarded', 'value');
    const secrets = store({ ...aws.env, AWS_SECRET_ACCESS_KEY: 'not-the-key' });
    const err = await secrets.resolve('aws-secrets-manager:guarded').catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(SecretError);
    expect((err as Error).message).toBe('secret aws-secrets-manager:guarded: GetSecretValue (AWSCURRENT) failed: InvalidSignatureException');
  });

  it('reports a missing secret', async () => {
    const err = await store(aws.env).resolve('aws-secrets-manager:absent').catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(/ResourceNotFoundException/);
  });

  it('sends the session token of temporary credentials', async () => {
    aws.put('temporary', 'value');
    expect(await store({ ...aws.env, AWS_SESSION_TOKEN: 'session-token-value' }).resolve('aws-secrets-manager:temporary')).toBe('value');
  });
});

describe('the Workers secret store', () => {
  it('has no file: references', async () => {
    await expect(workerSecretStore({}).resolve('file:/etc/x')).rejects.toThrow('file: references are not available on Workers');
  });

  it('requires explicit AWS keys, since workerd has no default credential chain', async () => {
    await expect(workerSecretStore({ AWS_REGION: 'eu-west-1' }).resolve('aws-secrets-manager:x')).rejects.toThrow(/must be Worker secrets/);
    expect(() => awsClientSettings({ AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'a' }, { requireExplicitCredentials: false })).toThrow(/both/);
    expect(awsClientSettings({ AWS_DEFAULT_REGION: 'us-east-2', AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }, { requireExplicitCredentials: false }))
      .toEqual({ region: 'us-east-2', credentials: undefined, endpoint: 'http://127.0.0.1:1' });
  });
});
