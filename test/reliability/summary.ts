import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Each reliability test records what it tried, how many times and the outcome; the suite's
 * last step (summary.test.ts) prints them as the table docs/testing.md shows.
 */
export const SUMMARY_FILE = join(__dirname, '../../.cache/reliability-summary.jsonl');

export function recordOutcome(what: string, count: number, outcome: string): void {
  mkdirSync(join(SUMMARY_FILE, '..'), { recursive: true });
  appendFileSync(SUMMARY_FILE, `${JSON.stringify({ what, count, outcome })}\n`);
}
