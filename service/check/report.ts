import { diagnosisLine } from '../turn/diagnosis';
import { type CheckReport, fmt, type UriResult } from './run';

/** How `turnkey check` prints its findings: a table per URI, then what failed and why. */

type Row = UriResult & { ttl?: number };

const COLUMNS: [string, (r: Row) => string][] = [
  ['URI', (r) => r.uri],
  ['outcome', (r) => r.outcome],
  ['allocate ms', (r) => (r.allocateMs === undefined ? '-' : String(r.allocateMs))],
  ['relay RTT ms', (r) => (r.relayRttMs === undefined ? '-' : String(r.relayRttMs))],
  ['from outside ms', (r) => (r.outsideRttMs === undefined ? '-' : String(r.outsideRttMs))],
  ['relayed', (r) => (r.relayed ? `${fmt(r.relayed)}${r.relayedElsewhere ? ' (!)' : ''}` : '-')],
  ['server-reflexive', (r) => (r.mapped ? fmt(r.mapped) : '-')],
  [
    'credential expires / ttl',
    (r) =>
      r.credentialExpiresInS === undefined
        ? '-'
        : `in ${r.credentialExpiresInS} s / ttl ${r.ttl ?? '-'} s`,
  ],
];

/** One row per URI; `ttl` is the lifetime the service announced with the credential. */
export function formatTable(rows: UriResult[], ttl?: number): string {
  const cells = rows.map((r) =>
    COLUMNS.map(([, cell]) => cell(ttl === undefined ? r : { ...r, ttl })),
  );
  const widths = COLUMNS.map(([title], i) =>
    Math.max(title.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [
    line(COLUMNS.map(([title]) => title)),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
  ].join('\n');
}

/** The human-readable report: table, flags, then one diagnosis per failure. */
export function formatReport(report: CheckReport): string {
  const out: string[] = [`turnkey check: ${report.url} (user ${report.user})`];
  if (report.fetchError) {
    out.push('', `FAILED: ${diagnosisLine(report.fetchError)}`);
    return out.join('\n');
  }
  if (report.ttl !== undefined)
    out.push(`announced ttl ${report.ttl} s, expires ${report.expiresAt}`);
  out.push('', formatTable(report.results, report.ttl), '');
  if (report.credentialWarning) out.push(`warning: ${report.credentialWarning}`);
  for (const r of report.results) {
    if (r.relayedElsewhere && r.relayed) {
      out.push(
        `warning: ${r.uri}: relayed address ${r.relayed.address} is not the URI's host ${r.hostAddress}: a relay behind NAT announces the wrong external IP (turnkey:externalIp / EXTERNAL_IP)`,
      );
    }
  }
  for (const r of report.results) {
    if (!r.diagnosis) continue;
    out.push(
      `${r.uri}: ${r.diagnosis.problem}`,
      `  cause: ${r.diagnosis.cause}`,
      `  fix:   ${r.diagnosis.fix}`,
    );
  }
  const failed = report.results.filter((r) => r.outcome === 'failed').length;
  out.push(
    report.ok
      ? `OK: every URI works (${report.results.length})`
      : report.results.length === 0
        ? 'FAILED: the service handed out no URIs'
        : `FAILED: ${failed} of ${report.results.length} URIs do not work`,
  );
  return out.join('\n');
}

/** 0 only when every URI relays (TURN) or answers (STUN). */
export function exitCode(report: CheckReport): number {
  return report.ok ? 0 : 1;
}
