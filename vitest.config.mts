import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        // Needs nothing but Node: what `npm test` runs.
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/service/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
    ],
  },
});
