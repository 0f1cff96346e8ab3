/**
 * The Workers adapters that fail at the edge of the broker: the coordinator Durable Object
 * unreachable or answering an error, and a Secrets Manager endpoint answering something that is
 * not JSON. Each fails with the broker's own coded error, never a raw runtime error.
 */
import { describe, expect, it } from 'vitest';
import {
  coordinatorObjectName, durableRateLimitStore, durableReplayCache, type NamespaceLike,
} from '../../functions/worker/durable-coordinator.ts';
import { awsSecretsManagerFetchReader } from '../../functions/worker/aws-sigv4-secrets.ts';
import { SecretError } from '../../shared/config/secret-refs.ts';
import { StsError, toWireError } from '../../shared/errors.ts';
import { bucketsFor } from '../../shared/exchange/rate-limit.ts';

function namespace(answer: (name: string) => Promise<Response>): NamespaceLike & { names: string[] } {
  const names: string[] = [];
  return {
    names,
    idFromName: (name) => name,
    get: (id) => ({ fetch: () => (names.push(id as string), answer(id as string)) }),
  };
}

const rule = { requests: 10, per: 60 };

describe('the coordinator Durable Object as the broker sees it', () => {
  it('routes replays per issuer, identity buckets per idp and the client bucket per address', () => {
    expect(coordinatorObjectName('replay', 'https://idp.example\u0000jti-1')).toBe('replay:https://idp.example');
    const idp = { name: 'github', rate_limit: { per_subject: rule, per_idp: rule } };
    for (const bucket of bucketsFor(idp, 'repo:acme/app')) expect(coordinatorObjectName('rate', bucket.key)).toBe('rate:idp:github');
    expect(coordinatorObjectName('rate', 'client\u0000203.0.113.7')).toBe('rate:client:203.0.113.7');
  });

  it('sends two client addresses to two objects, and one identity\'s buckets to one', async () => {
    const ns = namespace(async () => Response.json({ allowed: true, retryAfter: 0 }));
    const store = durableRateLimitStore(ns);
    await store.take([{ key: 'client\u0000203.0.113.7', rule }], 0);
    await store.take([{ key: 'client\u0000198.51.100.9', rule }], 0);
    await store.take(bucketsFor({ name: 'github', rate_limit: { per_subject: rule, per_idp: rule } }, 'repo:acme/app'), 0);
    expect(ns.names).toEqual(['rate:client:203.0.113.7', 'rate:client:198.51.100.9', 'rate:idp:github']);
  });

  it('answers an unreachable object with 503 temporarily_unavailable (check unavailable), not a 500', async () => {
    const down = namespace(() => Promise.reject(new Error('Durable Object reset because its code was updated')));
    for (const attempt of [
      () => durableReplayCache(down).firstUse('https://idp.example\u0000jti-1', 100, 0),
      () => durableRateLimitStore(down).take([{ key: 'client\u0000203.0.113.7', rule }], 0),
    ]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StsError);
      expect((err as StsError).code).toBe('ERR_UPSTREAM_UNAVAILABLE');
      const wire = toWireError(err, 'r');
      expect({ status: wire.status, error: wire.body.error, check: wire.body.check }).toEqual({ status: 503, error: 'temporarily_unavailable', check: 'unavailable' });
    }
  });

  it('answers an object that replies 500 the same way', async () => {
    const failing = namespace(async () => new Response('boom', { status: 500 }));
    const err = await durableReplayCache(failing).firstUse('https://idp.example\u0000jti-1', 100, 0).catch((e: unknown) => e);
    expect((err as StsError).code).toBe('ERR_UPSTREAM_UNAVAILABLE');
  });
});

describe('Secrets Manager over fetch (Workers)', () => {
  const env = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };

  it('refuses a 200 whose body is not JSON with a SecretError (ERR_SECRET), not a SyntaxError', async () => {
    const read = awsSecretsManagerFetchReader(env, async () => new Response('<html>captive portal</html>', { status: 200 }));
    const err = await read('argo-sts/keys', 'AWSCURRENT').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretError);
    expect(err).toMatchObject({ code: 'ERR_SECRET' });
    expect((err as Error).message).toContain('not JSON');
  });

  it('refuses a 200 whose JSON is not an object with a SecretError', async () => {
    const read = awsSecretsManagerFetchReader(env, async () => new Response('null', { status: 200 }));
    await expect(read('argo-sts/keys', 'AWSCURRENT')).rejects.toBeInstanceOf(SecretError);
  });
});
