import { diagnosisLine } from '../turn/diagnosis';
import { type CertificateResult, span } from './certificates';
import { type CheckReport, fmt, type UriResult } from './run';

/**
 * How `turnkey check` prints its findings: a table per URI, a line per certificate, then
 * what failed and why.
 */

type Row = UriResult & { ttl?: number };

const COLUMNS: [string, (r: Row) => string][] = [
  ['URI', (r) => r.uri],
  ['outcome', (r) => r.outcome],
  ['allocate ms', (r) => (r.allocateMs === undefined ? '-' : String(r.allocateMs))],
  ['relay RTT ms', (r) => (r.relayRttMs === undefined ? '-' : String(r.relayRttMs))],
  ['from outside ms', (r) => (r.outsideRttMs === undefined ? '-' : String(r.outsideRttMs))],
  ['relayed', (r) => (r.relayed ? `${fmt(r.relayed)}${r.relayedElsewhere ? ' (!)' : ''}` : '-')],
  ['server-reflexive', (r) => (r.mapped ? fmt(r.mapped) : '-')],
  ['family relayed / outside', families],
  [
    'credential expires / ttl',
    (r) =>
      r.credentialExpiresInS === undefined
        ? '-'
        : `in ${r.credentialExpiresInS} s / ttl ${r.ttl ?? '-'} s`,
  ],
];

/**
 * The relayed address's family (ipv6 is flagged: browsers asked for none), then the one the
 * from-outside step went over, with the extra allocation's relayed address when it needed one.
 */
function families(r: Row): string {
  if (r.relayedFamily === undefined) return '-';
  const relayed = `${r.relayedFamily}${r.relayedFamily === 'ipv4' ? '' : ' (!)'}`;
  const outside = [
    r.outsideFamily ?? '-',
    ...(r.outsideNotChecked ? ['not checked'] : []),
    ...(r.outsideRelayed ? [`via ${fmt(r.outsideRelayed)}`] : []),
  ].join(' ');
  return `${relayed} / ${outside}`;
}

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

/** One line per TLS endpoint: when its certificate ends, in the words of its state. */
export function certificateLine(c: CertificateResult): string {
  const name = `certificate ${c.endpoint}`;
  if (c.status === 'unseen') return `${name} not seen: ${c.error}`;
  const left = c.expiresInS ?? 0;
  if (c.status === 'not-yet-valid') {
    return `${name} is not valid before ${c.validFrom} (in ${span(c.validInS ?? 0)}), expires ${c.validTo}`;
  }
  return left <= 0
    ? `${name} expired ${c.validTo} (${span(left)} ago)`
    : `${name} expires ${c.validTo} (in ${span(left)})`;
}

const certificateBlock = (report: CheckReport): string[] => [
  ...report.certificates.map(certificateLine),
  ...(report.certificateWarnings ?? []).map((w) => `warning: ${w}`),
];

/** The human-readable report: table, certificates, flags, then one diagnosis per failure. */
export function formatReport(report: CheckReport): string {
  const out: string[] = [`turnkey check: ${report.url} (user ${report.user})`];
  if (report.fetchError) {
    out.push('', ...certificateBlock(report), `FAILED: ${diagnosisLine(report.fetchError)}`);
    return out.join('\n');
  }
  if (report.ttl !== undefined)
    out.push(`announced ttl ${report.ttl} s, expires ${report.expiresAt}`);
  out.push('', formatTable(report.results, report.ttl), '');
  out.push(...certificateBlock(report));
  if (report.credentialWarning) out.push(`warning: ${report.credentialWarning}`);
  for (const r of report.results) {
    if (r.relayedElsewhere && r.relayed) {
      out.push(
        `warning: ${r.uri}: relayed address ${r.relayed.address} is not the URI's host ${r.hostAddress}: a relay behind NAT announces the wrong external IP (turnkey:externalIp / EXTERNAL_IP)`,
      );
    }
    if (r.outsideNotChecked) {
      out.push(`note: ${r.uri}: reachability from outside not checked: ${r.outsideNotChecked}`);
    }
  }
  const paragraph = (problem: string, d: { cause: string; fix: string }) =>
    out.push(problem, `  cause: ${d.cause}`, `  fix:   ${d.fix}`);
  for (const r of report.results) {
    if (r.diagnosis) paragraph(`${r.uri}: ${r.diagnosis.problem}`, r.diagnosis);
  }
  // The problem names the certificate and its endpoint already.
  for (const c of report.certificates) if (c.diagnosis) paragraph(c.diagnosis.problem, c.diagnosis);
  out.push(report.ok ? `OK: every URI works (${report.results.length})` : failedLine(report));
  return out.join('\n');
}

function failedLine(report: CheckReport): string {
  if (report.results.length === 0) return 'FAILED: the service handed out no URIs';
  const failed = report.results.filter((r) => r.outcome === 'failed').length;
  const outOfDate = report.certificates.filter((c) => c.diagnosis).length;
  const parts = [
    ...(failed > 0 ? [`${failed} of ${report.results.length} URIs do not work`] : []),
    ...(outOfDate > 0
      ? [`${outOfDate} of ${report.certificates.length} certificates out of their validity period`]
      : []),
  ];
  return `FAILED: ${parts.join('; ')}`;
}

/** 0 only when every URI relays (TURN) or answers (STUN) and no certificate is out of date. */
export function exitCode(report: CheckReport): number {
  return report.ok ? 0 : 1;
}
