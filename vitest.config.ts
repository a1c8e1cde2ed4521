// One test run over every workspace; each project is one app or package.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'repo', include: ['test/**/*.test.ts'] } },
      { test: { name: 'api', include: ['packages/api/test/**/*.test.ts'] } },
      { test: { name: 'service-kit', include: ['packages/service-kit/test/**/*.test.ts'] } },
      { test: { name: 'client', include: ['packages/client/test/**/*.test.ts'], testTimeout: 60_000 } },
      { test: { name: 'node', include: ['apps/node/test/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'hub', include: ['apps/hub/test/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'web', include: ['apps/web/test/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'e2e', include: ['e2e/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
    ],
  },
});
