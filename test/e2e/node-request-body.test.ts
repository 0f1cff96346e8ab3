/**
 * The token endpoint on Node reads the body straight from the IncomingMessage (not through the
 * web Request's stream): the same answers as before, including the body cap, over real HTTP.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeServer, startNodeServer } from '../../functions/node/start-server.ts';
import { parseConfigText } from '../../shared/broker/load-config.ts';
import { REQUEST_LIMITS } from '../../shared/exchange/token-request.ts';
import { githubViewConfig, startInProcessBroker } from '../support/in-process-broker.ts';
import { fixtureClaims, startLoopbackIdp, type LoopbackIdp } from '../support/loopback-idp.ts';
import { idTokenExchangeForm } from '../support/token-requests.ts';

let github: LoopbackIdp;
let broker: NodeServer;
const auditLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  github = await startLoopbackIdp();
  broker = await startInProcessBroker(githubViewConfig(github.issuer), auditLines);
});

afterAll(async () => {
  await broker?.close();
  await github?.close();
});

/** POSTs chunks to /token, chunked transfer encoding unless a content-length is given. */
function post(chunks: readonly string[], headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(`${broker.url}/token`);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('the token endpoint on Node, body read from the IncomingMessage', () => {
  it('exchanges a token whose form body arrives in several chunks', async () => {
    const token = await github.sign(fixtureClaims('github-actions', Math.floor(Date.now() / 1000), { iss: github.issuer }));
    const form = idTokenExchangeForm({ subject_token: token, audience: 'argo-prod' }).toString();
    const answer = await post([form.slice(0, 100), form.slice(100, 900), form.slice(900)]);
    expect(answer.status).toBe(200);
    expect(typeof answer.body.access_token).toBe('string');
  });

  it('refuses a chunked body that grows past the cap with invalid_request, not a 5xx', async () => {
    const chunk = 'a'.repeat(16 * 1024);
    const answer = await post(Array.from({ length: Math.ceil(REQUEST_LIMITS.maxBodyBytes / chunk.length) + 2 }, () => chunk));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_request');
  });

  it('refuses a declared content-length over the cap before reading the body', async () => {
    const body = 'a'.repeat(REQUEST_LIMITS.maxBodyBytes + 1);
    const answer = await post([body], { 'content-length': String(body.length) });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_request');
  });

  it('refuses a body that is not UTF-8 with invalid_request', async () => {
    const url = new URL(`${broker.url}/token`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(Buffer.from([0x67, 0x72, 0x61, 0xff, 0xfe]));
    });
    expect(status).toBe(400);
  });
});

describe('a client that hangs up mid-body', () => {
  it('is a client abort: audited as ERR_CLIENT_ABORTED, no stack trace on stderr, no 5xx in the metrics', async () => {
    const lines: Record<string, unknown>[] = [];
    const warnings: string[] = [];
    const server = await startNodeServer({
      config: parseConfigText(githubViewConfig(github.issuer)),
      port: 0,
      env: {},
      writeLine: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
      warn: (message) => warnings.push(message),
    });
    try {
      const url = new URL(server.url);
      for (const endpoint of ['/token', '/diagnose']) {
        await new Promise<void>((resolve, reject) => {
          const socket = connect(Number(url.port), url.hostname, () => {
            socket.write(`POST ${endpoint} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n`);
            socket.write('grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=eyJ');
            setTimeout(() => socket.destroy(), 50);
          });
          socket.on('close', () => resolve());
          socket.on('error', reject);
        });
      }
      await expect.poll(() => lines.filter((l) => l.type === 'audit').length, { timeout: 5000 }).toBe(2);
      const audits = lines.filter((l) => l.type === 'audit');
      expect(audits.map((a) => [a.endpoint, a.error, a.check])).toEqual([['token', 'ERR_CLIENT_ABORTED', 'request'], ['diagnose', 'ERR_CLIENT_ABORTED', 'request']]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(warnings.filter((w) => !w.startsWith('WARNING: signing.keys'))).toEqual([]);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).not.toMatch(/ERR_INTERNAL|server_error|status="5/);
    } finally {
      await server.close();
    }
  });
});
