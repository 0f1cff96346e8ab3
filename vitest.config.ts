import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// CI reads its one summary line from the JSON report (see .ci/run).
const reporters = process.env.CI ? ['default', ['json', { outputFile: '.ci/results.json' }]] : ['default'];

export default defineConfig({
  test: {
    reporters: reporters as never,
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/{unit,app,e2e,attack}/**/*.test.ts', 'test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest(async ({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ARGO_STS_CONFIG: inject<string>('workerdConfig'),
                SIGNING_KEYS: inject<string>('workerdSigningKeys'),
              },
              d1Databases: ['AUDIT_DB'],
            },
          })),
        ],
        test: {
          name: 'workerd',
          include: ['test/workerd/**/*.test.ts'],
          globalSetup: ['test/workerd/global-setup.ts', 'test/workerd/targets-global-setup.ts'],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
