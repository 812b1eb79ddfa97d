import { existsSync, readFileSync, rmSync } from 'node:fs';
import { SUMMARY_FILE } from './summary';

/** Starts each run with an empty record and ends it by printing the table docs/testing.md shows. */
export default function setup() {
  rmSync(SUMMARY_FILE, { force: true });
  return () => {
    if (!existsSync(SUMMARY_FILE)) return;
    const rows = readFileSync(SUMMARY_FILE, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { what: string; count: number; outcome: string });
    const table = [
      '| what was tried | how many | outcome |',
      '| --- | --- | --- |',
      ...rows.map((r) => `| ${r.what} | ${r.count.toLocaleString('en')} | ${r.outcome} |`),
    ];
    process.stdout.write(
      `\nReliability summary (${new Date().toISOString().slice(0, 10)}):\n\n${table.join('\n')}\n\n`,
    );
  };
}
