/** The Workers bundle, as `npm run build` makes it, stays small enough to start fast at the edge. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { WORKER_BUNDLE_BUDGET_BYTES } from '../../bench/support/report.ts';

it(`bundles the worker within its budget, ${WORKER_BUNDLE_BUDGET_BYTES / 1024} KiB gzipped`, () => {
  const out = mkdtempSync(join(tmpdir(), 'argo-sts-bundle-'));
  try {
    execFileSync('npx', ['--no-install', 'wrangler', 'deploy', '--dry-run', '--outdir', out], {
      stdio: 'pipe',
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true' },
    });
    const gzipped = gzipSync(readFileSync(join(out, 'worker.js'))).byteLength;
    expect(gzipped).toBeLessThanOrEqual(WORKER_BUNDLE_BUDGET_BYTES);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
