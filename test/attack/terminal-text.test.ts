/**
 * A token is attacker-shaped text: `argo-sts diagnose` prints its values (sub, aud, kid) to a
 * person's terminal, so escape sequences (ESC), bidi overrides and line separators in them are
 * shown escaped, never executed or reordered — in the report and in --json.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoopbackIdp, startLoopbackIdp } from '../support/loopback-idp.ts';
import { runCliCaptured } from '../support/run-cli.ts';
import { attackConfig, attackHarness, githubClaims } from './support.ts';

const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

let github: LoopbackIdp;
let agents: LoopbackIdp;
let server: Server;
let broker: string;

beforeAll(async () => {
  github = await startLoopbackIdp();
  agents = await startLoopbackIdp();
  const h = await attackHarness(attackConfig(github, agents));
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: h.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server));
  });
  broker = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all([github.close(), agents.close()]);
});

describe('argo-sts diagnose prints hostile token text escaped', () => {
  it.each([[[]], [['--json']]])('escapes ESC, bidi overrides and U+2028 from the token (%j)', async (extra) => {
    const hostile = 'repo:evil/x\u001b[2J\u001b]0;pwned\u0007\u202eniam\u2028x';
    const token = await github.sign(githubClaims(github, { sub: hostile, aud: `aud\u001b[31m\u2066` }), { kid: 'kid\u001b[1m\u202e' });
    const { stdout } = await runCliCaptured(['diagnose', '--broker', broker, ...extra, token]);
    expect(stdout).not.toMatch(RAW_UNSAFE);
    expect(stdout).toContain('kid\\u001b[1m\\u202e');
  });
});
