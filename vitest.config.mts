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
        // The packed package (npm pack) installed in a scratch program outside the repository,
        // run as pulumi up runs it; installs from npm's cache or registry.
        test: {
          name: 'package',
          include: ['test/package/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
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
        // Network namespaces shaped like production (test/lab/lab.ts), the real turnserver in
        // them; needs root. One file at a time: they share the machine's few cores and the
        // lab prefix.
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          // One fork runs every file in turn (fileParallelism is a root-only option).
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 120_000,
          hookTimeout: 120_000,
          globalSetup: ['test/lab/global-setup.ts'],
        },
      },
      {
        // Fuzzing, the service as a real process (secrets, SIGTERM under load), a bounded soak.
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 60_000,
          // Prints the table of what was tried once all files have run.
          globalSetup: ['test/reliability/global-setup.ts'],
        },
      },
    ],
  },
});
