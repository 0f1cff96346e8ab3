/**
 * `npm start` and `argo-sts serve` are one code path (functions/node/start-server.ts): the same
 * checks, the same one-line messages, the same exit code 2 for anything that stops a start.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { minimalConfig } from '../support/configs.ts';
import { runCliCaptured } from '../support/run-cli.ts';
import { groupAlive, spawnServer, spawnServerToExit } from '../support/spawn-server.ts';

const CONFIG = minimalConfig({ keys: 'env:ARGO_STS_TEST_UNSET_SIGNING_KEYS' });

describe('server start-up', () => {
  it('refuses a port that is not a number with one line and exit 2, from argo-sts serve', async () => {
    const run = await runCliCaptured(['serve', '--port', 'abc']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('argo-sts: PORT must be a port number (0-65535), got "abc"\n');
  });

  it('refuses the same port from npm start with the same line', async () => {
    const exited = await spawnServerToExit({ PORT: 'abc', ARGO_STS_CONFIG: CONFIG });
    expect(exited.code).toBe(2);
    expect(exited.stderr).toEqual(['argo-sts: PORT must be a port number (0-65535), got "abc"']);
  });

  it('exits 2 with one line for an unset signing-key secret, from both, and creates no audit database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-startup-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `${CONFIG}audit: { sink: "sqlite:${join(dir, 'audit', 'audit.db')}" }\n`);
    const serve = await runCliCaptured(['serve', '--config', file, '--port', '0']);
    expect(serve.code).toBe(2);
    expect(serve.stderr.trim().split('\n')).toHaveLength(1);
    expect(serve.stderr).toContain('ARGO_STS_TEST_UNSET_SIGNING_KEYS');
    const npm = await spawnServerToExit({ ARGO_STS_CONFIG_FILE: file, PORT: '0' });
    expect(npm.code).toBe(2);
    expect(npm.stderr).toEqual([serve.stderr.trim()]);
    expect(readdirSync(dir)).toEqual(['config.yaml']);
  });
});

describe('npm start under a supervisor', () => {
  it('stops the server when SIGTERM reaches npm alone, as a supervisor sends it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argo-sts-sigterm-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, CONFIG.replace('env:ARGO_STS_TEST_UNSET_SIGNING_KEYS', 'generate').replace('https://sts.example.com', 'http://127.0.0.1:8787'));
    const server = await spawnServer({ ARGO_STS_CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1' });
    try {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      process.kill(server.pid, 'SIGTERM'); // npm only, not its process group
      const deadline = Date.now() + 10_000;
      while (groupAlive(server.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(groupAlive(server.pid), 'a process of npm start outlived SIGTERM').toBe(false);
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    } finally {
      if (groupAlive(server.pid)) process.kill(-server.pid, 'SIGKILL');
    }
  });
});
