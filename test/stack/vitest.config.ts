import { defineConfig } from 'vitest/config';

// The stack suite only (npm run test:stack); `npm test` never includes test/stack/.
// CI reads the counts from the JSON report (see .ci/run).
const reporters = process.env.CI ? ['default', ['json', { outputFile: '.ci/stack-results.json' }]] : ['default'];

export default defineConfig({
  test: {
    name: 'stack',
    root: new URL('../../', import.meta.url).pathname,
    include: ['test/stack/**/*.test.ts'],
    environment: 'node',
    reporters: reporters as never,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
