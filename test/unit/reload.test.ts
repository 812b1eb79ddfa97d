import { mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  createReloader,
  type Material,
  type ReloadVerdict,
  reloadOnChange,
} from '../../service/config/reload';
import { type FileRead, WATCH_INTERVAL_MS, watchFiles } from '../../service/config/watch';
import { createLogger } from '../../service/logger';
import { captureLogs } from '../helpers/log-capture';

/**
 * The reload's two halves without a server: watchFiles notices content changes (not mtimes),
 * and a reloader applies a good version at once but reports a bad one only once it has had
 * time to be completed (a certificate written before its key).
 */

const dir = mkdtempSync(join(tmpdir(), 'turnkey-watch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.useRealTimers();
});

describe('watchFiles', () => {
  const watches: { stop(): void }[] = [];
  afterEach(() => {
    for (const w of watches.splice(0)) w.stop();
  });
  function watch(paths: string[]) {
    const calls: FileRead[][] = [];
    watches.push(watchFiles(paths, 20, (reads) => calls.push(reads)));
    return calls;
  }
  const text = (read: FileRead | undefined) =>
    read?.ok ? read.bytes.toString() : `error ${read?.code}`;

  it('sees new content of the same size under the same mtime: it compares hashes', async () => {
    const file = join(dir, 'same-size');
    writeFileSync(file, 'aaaa');
    const { atime, mtime } = statSync(file);
    const calls = watch([file]);
    writeFileSync(file, 'bbbb');
    utimesSync(file, atime, mtime);
    await expect.poll(() => calls.length, { timeout: 10_000 }).toBe(1);
    expect(text(calls[0]?.[0])).toBe('bbbb');
  });

  it('sees a file renamed over the watched one, and hands over every file as read in that poll', async () => {
    const [a, b] = [join(dir, 'renamed-a'), join(dir, 'renamed-b')];
    writeFileSync(a, 'old a');
    writeFileSync(b, 'b');
    const calls = watch([a, b]);
    writeFileSync(`${a}.new`, 'new a');
    renameSync(`${a}.new`, a);
    await expect.poll(() => calls.length, { timeout: 10_000 }).toBe(1);
    expect(calls[0]?.map(text)).toEqual(['new a', 'b']);
  });

  it('reports a file that disappears as unreadable, and its return as a change', async () => {
    const file = join(dir, 'vanishing');
    writeFileSync(file, 'here');
    const calls = watch([file]);
    rmSync(file);
    await expect.poll(() => calls.length, { timeout: 10_000 }).toBe(1);
    expect(text(calls[0]?.[0])).toBe('error ENOENT');
    writeFileSync(file, 'back');
    await expect.poll(() => calls.length, { timeout: 10_000 }).toBe(2);
    expect(text(calls[1]?.[0])).toBe('back');
  });

  it('never keeps the process alive, and stop() leaves no timer', () => {
    const file = join(dir, 'timers');
    writeFileSync(file, 'x');
    const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = refTimers();
    const w = watchFiles([file], WATCH_INTERVAL_MS, () => {});
    // Unreferenced: a shutdown never waits for the next poll.
    expect(refTimers()).toBe(before);
    w.stop();

    vi.useFakeTimers();
    const faked = watchFiles([file], WATCH_INTERVAL_MS, () => {});
    expect(vi.getTimerCount()).toBe(1);
    faked.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('createReloader', () => {
  const SETTLE_MS = 5000;
  const bad = (cause = 'the file holds no PEM certificate'): ReloadVerdict => ({
    ok: false,
    variable: 'TLS_CERT_FILE',
    cause,
  });
  const good = (line = 'TLS certificate reloaded from TLS_CERT_FILE'): ReloadVerdict => ({
    ok: true,
    apply: () => line,
  });

  function reloader() {
    vi.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') });
    const logs = captureLogs();
    const events: string[] = [];
    let next: ReloadVerdict = good();
    const r = createReloader({
      material: 'tls',
      what: 'the certificate',
      sources: [
        { variable: 'TLS_CERT_FILE', file: '/run/secrets/tls-cert' },
        { variable: 'TLS_KEY_FILE', file: '/run/secrets/tls-key' },
      ],
      check: () => next,
      settleMs: SETTLE_MS,
      logger: createLogger('info', logs.stream),
      metrics: {
        materialLoaded: (m: Material, at: Date) => events.push(`loaded ${m} ${at.toISOString()}`),
        reloaded: (m: Material, outcome) => events.push(`${outcome} ${m}`),
      },
    });
    return {
      r,
      logs,
      events,
      change(verdict: ReloadVerdict) {
        next = verdict;
        r.onChange([]);
      },
    };
  }

  it('applies a half-written pair only once it is whole, and never reports the half', async () => {
    const { r, logs, events, change } = reloader();
    change(bad('the file is not the key of the certificate in TLS_CERT_FILE'));
    await vi.advanceTimersByTimeAsync(SETTLE_MS - 1);
    expect(r.failure()).toBeUndefined();
    change(good());
    await vi.advanceTimersByTimeAsync(10 * SETTLE_MS);
    expect(r.failure()).toBeUndefined();
    expect(events).toEqual([
      'loaded tls 2030-01-01T00:00:00.000Z',
      'applied tls',
      'loaded tls 2030-01-01T00:00:04.999Z',
    ]);
    expect(logs.parsed().map((l) => [l.level, l.msg])).toEqual([
      ['info', 'TLS certificate reloaded from TLS_CERT_FILE'],
    ]);
  });

  it('reports a version still bad after the settle time once, with its latest cause, and clears it on a good one', async () => {
    const { r, logs, events, change } = reloader();
    change(bad('the file holds no PEM certificate'));
    await vi.advanceTimersByTimeAsync(1000);
    change(bad('the file is empty'));
    // Counted from the first bad version: a writer that keeps failing is not waited for forever.
    await vi.advanceTimersByTimeAsync(SETTLE_MS - 1000);
    expect(r.failure()).toEqual({
      material: 'tls',
      variable: 'TLS_CERT_FILE',
      file: '/run/secrets/tls-cert',
      error: 'the file is empty',
      failedAt: '2030-01-01T00:00:05.000Z',
      loadedAt: '2030-01-01T00:00:00.000Z',
    });
    expect(logs.parsed()).toEqual([
      expect.objectContaining({
        level: 'error',
        material: 'tls',
        variable: 'TLS_CERT_FILE',
        file: '/run/secrets/tls-cert',
        msg: 'TLS_CERT_FILE /run/secrets/tls-cert: the file is empty; keeping the certificate loaded at 2030-01-01T00:00:00.000Z',
      }),
    ]);
    await vi.advanceTimersByTimeAsync(10 * SETTLE_MS);
    expect(logs.lines).toHaveLength(1);
    expect(events.filter((e) => e === 'failed tls')).toHaveLength(1);

    change(good());
    expect(r.failure()).toBeUndefined();
    expect(events.at(-2)).toBe('applied tls');
  });

  it('reports at once a version that passed its check but could not be applied', () => {
    const { r, change } = reloader();
    change({
      ok: true,
      apply: () => {
        throw new Error('no such context');
      },
    });
    expect(r.failure()?.error).toBe('could not be applied: no such context');
  });

  it('reloadOnChange: stop() ends the polling and any settle timer', () => {
    vi.useFakeTimers();
    const file = join(dir, 'stop');
    writeFileSync(file, 'x');
    const r = reloadOnChange({
      material: 'turn_secret',
      what: 'the secret',
      sources: [{ variable: 'TURN_SECRET_FILE', file }],
      check: () => good(),
      intervalMs: WATCH_INTERVAL_MS,
      logger: createLogger('info', captureLogs().stream),
      metrics: { materialLoaded: () => {}, reloaded: () => {} },
    });
    expect(vi.getTimerCount()).toBe(1);
    r.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
