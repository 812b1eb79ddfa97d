import { describe, expect, it } from 'vitest';
import { renewalDue } from '../../service/acme/manager';
import {
  caRefusal,
  parseRetryAfter,
  problemIn,
  validationFailure,
} from '../../service/acme/problems';

/**
 * What the CA says, turned into what the operator does. Pebble (the lab's CA) has no rate
 * limits, so Let's Encrypt's documented rateLimited answer is taken as it sends it.
 */

const NOW = new Date('2026-12-04T12:00:00Z');

describe('a rate limit', () => {
  it('quotes the CA, says when the next attempt is, and points at the staging directory', () => {
    const problem = problemIn(
      {
        type: 'urn:ietf:params:acme:error:rateLimited',
        detail:
          'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-05 10:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers',
        status: 429,
      },
      '79200',
    );
    const failure = caRefusal(
      problem as NonNullable<typeof problem>,
      'an order for turn.example.com',
    );
    expect(failure.kind).toBe('rate_limited');
    expect(failure.retryAfter?.getTime()).toBeGreaterThan(Date.now() + 79_000_000);
    expect(failure.message).toMatch(
      /^ACME: the CA refused an order for turn\.example\.com: rate limit \(the CA says: too many certificates \(5\) already issued .*\); next attempt after 20\d\d-.*Z\. Each redeploy reuses the certificate in ACME_STATE_DIR; for trials use the CA's staging directory \(turnkey:acmeDirectoryUrl\)$/,
    );
  });

  it('reads Retry-After as seconds or as a date', () => {
    expect(parseRetryAfter('120', NOW)?.toISOString()).toBe('2026-12-04T12:02:00.000Z');
    expect(parseRetryAfter('Sat, 05 Dec 2026 10:00:00 GMT', NOW)?.toISOString()).toBe(
      '2026-12-05T10:00:00.000Z',
    );
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});

describe('a failed validation', () => {
  // Pebble 2.4's details for each case (test/lab/acme-service.test.ts sees them live).
  it.each([
    [
      'connection',
      'Get "http://x.lab.test:80/.well-known/acme-challenge/t": could not resolve URL "http://x.lab.test:80/.well-known/acme-challenge/t"',
      'dns',
    ],
    ['dns', 'DNS problem: NXDOMAIN looking up A for x.lab.test', 'dns'],
    [
      'connection',
      'Get "http://x.lab.test:80/.well-known/acme-challenge/t": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
      'port_blocked',
    ],
    [
      'connection',
      'Get "http://x.lab.test:80/.well-known/acme-challenge/t": dial tcp 11.0.0.31:80: connect: connection refused',
      'port_closed',
    ],
    [
      'unauthorized',
      'Non-200 status code from HTTP: http://x.lab.test:80/.well-known/acme-challenge/t returned 404',
      'wrong_answer',
    ],
    ['caa', 'CAA record for x.lab.test prevents issuance', 'refused'],
  ])('%s "%s" is %s', (type, detail, kind) => {
    const failure = validationFailure('x.lab.test', {
      type: `urn:ietf:params:acme:error:${type}`,
      detail,
    });
    expect(failure.kind).toBe(kind);
    expect(failure.message).toContain(detail);
  });

  it('takes the problem from a challenge object as the CA returns it', () => {
    expect(
      problemIn({
        type: 'http-01',
        status: 'invalid',
        error: { type: 'urn:ietf:params:acme:error:connection', detail: 'refused' },
      }),
    ).toEqual({ type: 'urn:ietf:params:acme:error:connection', detail: 'refused' });
    expect(problemIn({ type: 'http-01', status: 'pending' })).toBeUndefined();
  });
});

describe('renewal', () => {
  it('is due with a third of the lifetime left: day 60 of a 90-day certificate', () => {
    const notBefore = new Date('2026-01-01T00:00:00Z');
    const notAfter = new Date('2026-04-01T00:00:00Z');
    expect(renewalDue({ notBefore, notAfter }).toISOString()).toBe('2026-03-02T00:00:00.000Z');
  });
});
