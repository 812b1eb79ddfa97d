import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        // Needs nothing but Node: what `npm test` runs.
        test: {
          name: 'unit',
          include: [
            'test/unit/**/*.test.ts',
            'test/service/**/*.test.ts',
            'test/pulumi/**/*.test.ts',
          ],
          testTimeout: 20_000,
        },
      },
      {
        // Debian's real turnserver in a chroot (test/coturn/ensure-coturn.sh); needs root.
        test: {
          name: 'coturn',
          include: ['test/coturn/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 30_000,
        },
      },
      {
        // A real Docker engine and Debian's Chromium (npm run test:e2e installs both); needs root.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
