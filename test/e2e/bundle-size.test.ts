/** The Workers bundle, as `npm run build` makes it, stays small enough to start fast at the edge. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';

it('bundles the worker under 400 KiB gzipped', () => {
  const out = mkdtempSync(join(tmpdir(), 'argo-sts-bundle-'));
  try {
    execFileSync('npx', ['--no-install', 'wrangler', 'deploy', '--dry-run', '--outdir', out], {
      stdio: 'pipe',
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    });
    const gzipped = gzipSync(readFileSync(join(out, 'worker.js'))).byteLength;
    expect(gzipped).toBeLessThan(400 * 1024);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
