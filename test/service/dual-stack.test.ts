import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenWithIpv4Fallback } from '../../service/http/listen';
import { createLogger } from '../../service/logger';
import { certificateDir, makeCertificate, removeCertificates } from '../helpers/certificates';
import { captureLogs } from '../helpers/log-capture';
import { startTestService } from '../helpers/service';

/**
 * HOST=:: (the stack's default bind with TLS): one listener for both families, so IPv4 and
 * IPv6 clients reach the API on a dual-stack host; where the kernel has IPv6 off, 0.0.0.0.
 */

certificateDir();
afterAll(removeCertificates);

describe('the service with HOST=::', () => {
  let svc: Awaited<ReturnType<typeof startTestService>>;
  let trusting: Agent;

  beforeAll(async () => {
    const files = makeCertificate('dual-stack');
    // The certificate names 127.0.0.1; the chain is still checked for ::1.
    trusting = new Agent({
      connect: { ca: readFileSync(files.cert, 'utf8'), checkServerIdentity: () => undefined },
    });
    svc = await startTestService({
      TURN_PROVIDER: 'stun',
      STUN_URLS: 'stun:stun.example.com:3478',
      HOST: '::',
      TLS_CERT_FILE: files.cert,
      TLS_KEY_FILE: files.key,
    });
  });
  afterAll(async () => {
    await svc?.service.close();
    await trusting?.close();
  });

  it.each(['127.0.0.1', '[::1]'])('answers on %s', async (host) => {
    const { port } = new URL(svc.url);
    const res = await request(`https://${host}:${port}/healthz`, { dispatcher: trusting });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it('listens once, on ::, and logs no fallback', () => {
    expect(svc.service.app.server.address()).toMatchObject({ address: '::', family: 'IPv6' });
    expect(svc.logs.text()).not.toContain('IPv4 only');
  });
});

/** A failure as Node reports a listen it cannot make. */
const listenError = (code: string, host: string) =>
  Object.assign(new Error(`listen ${code}: cannot listen ${host}:0`), {
    code,
    syscall: 'listen',
  });

describe('listenWithIpv4Fallback', () => {
  const fastify = () => {
    const app = Fastify();
    app.get('/healthz', async () => 'ok');
    return app;
  };

  it('listens on 0.0.0.0 when :: fails with EAFNOSUPPORT (IPv6 off in the kernel), saying so once', async () => {
    const app = fastify();
    const logs = captureLogs();
    const tried: string[] = [];
    try {
      const url = await listenWithIpv4Fallback(
        async (host) => {
          tried.push(host);
          if (host === '::') throw listenError('EAFNOSUPPORT', host);
          return app.listen({ host, port: 0 });
        },
        '::',
        createLogger('info', logs.stream),
      );
      expect(tried).toEqual(['::', '0.0.0.0']);
      expect(app.server.address()).toMatchObject({ address: '0.0.0.0', family: 'IPv4' });
      const res = await request(`http://127.0.0.1:${new URL(url).port}/healthz`);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      expect(logs.parsed()).toEqual([
        expect.objectContaining({
          level: 'info',
          code: 'EAFNOSUPPORT',
          msg: 'HOST=:: cannot be bound (EAFNOSUPPORT: IPv6 is off on this host): listening on 0.0.0.0, IPv4 only',
        }),
      ]);
    } finally {
      await app.close();
    }
  });

  // A real failed listen (EADDRNOTAVAIL: 192.0.2.1 is on no interface here): Fastify listens
  // again afterwards, as the fallback needs.
  it('listens on 0.0.0.0 after a listen Fastify itself failed with EADDRNOTAVAIL', async () => {
    const app = fastify();
    const logs = captureLogs();
    try {
      await listenWithIpv4Fallback(
        (host) => app.listen({ host: host === '::' ? '192.0.2.1' : host, port: 0 }),
        '::',
        createLogger('info', logs.stream),
      );
      expect(app.server.address()).toMatchObject({ address: '0.0.0.0' });
      expect(logs.text()).toContain('EADDRNOTAVAIL: IPv6 is off on this host');
    } finally {
      await app.close();
    }
  });

  it.each([
    ['another failure of ::', '::', 'EADDRINUSE'],
    ['a specific address', '3ffe:11::10', 'EADDRNOTAVAIL'],
    ['0.0.0.0', '0.0.0.0', 'EAFNOSUPPORT'],
  ])('keeps %s an error, listening nowhere else', async (_what, host, code) => {
    const logs = captureLogs();
    const tried: string[] = [];
    await expect(
      listenWithIpv4Fallback(
        async (h) => {
          tried.push(h);
          throw listenError(code, h);
        },
        host,
        createLogger('info', logs.stream),
      ),
    ).rejects.toMatchObject({ code });
    expect(tried).toEqual([host]);
    expect(logs.lines).toEqual([]);
  });
});
