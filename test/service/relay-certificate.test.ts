import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Material } from '../../service/config/reload';
import { relayTlsTarget, watchRelayCertificate } from '../../service/relay-certificate';
import { makeCertificate, removeCertificates } from '../helpers/certificates';
import { captureLogs } from '../helpers/log-capture';
import { freePortBlock } from '../helpers/ports';

/**
 * The service looks at the certificate the relay on its host serves: a pair the relay's
 * watcher could not load leaves the old certificate in use, which /readyz must name.
 */

const pem = (pair: { cert: string; key: string }) => ({
  cert: readFileSync(pair.cert, 'utf8'),
  key: readFileSync(pair.key, 'utf8'),
});

describe('watchRelayCertificate', () => {
  const a = pem(makeCertificate('relay-old'));
  const b = pem(makeCertificate('relay-new'));
  let relay: Server;
  let port: number;
  beforeAll(async () => {
    relay = createServer({ cert: a.cert, key: a.key }, (s) => s.end());
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    port = (relay.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => relay.close(r));
    removeCertificates();
  });

  const watch = (certPem: string, graceMs: number, targetPort = port) => {
    const logs = captureLogs();
    const recorded: [Material, string][] = [];
    const watcher = watchRelayCertificate({
      target: { host: '127.0.0.1', port: targetPort, servername: 'relay.test' },
      certPem,
      file: '/run/relay-secrets/tls-cert.pem',
      logger: pino(logs.stream),
      metrics: {
        materialLoaded: (m) => recorded.push([m, 'loaded']),
        reloaded: (m, outcome) => recorded.push([m, outcome]),
      },
      intervalMs: 100,
      graceMs,
    });
    return { watcher, logs, recorded };
  };

  it('names a relay still serving another certificate than the one written, once past the grace; clears when it serves it', async () => {
    relay.setSecureContext({ cert: a.cert, key: a.key });
    const { watcher, logs, recorded } = watch(b.cert, 300);
    try {
      await expect
        .poll(() => watcher.failure(), { timeout: 3_000 })
        .toMatchObject({
          material: 'relay_tls',
          variable: 'TURN_TLS_CERT_FILE',
          file: '/run/relay-secrets/tls-cert.pem',
        });
      const failure = watcher.failure();
      expect(failure?.error).toContain(new X509Certificate(a.cert).fingerprint256);
      expect(failure?.error).toContain(new X509Certificate(b.cert).fingerprint256);
      expect(recorded).toEqual([
        ['relay_tls', 'loaded'],
        ['relay_tls', 'failed'],
      ]);
      expect(logs.parsed().filter((l) => l.level === 50)).toHaveLength(1);
      expect(logs.text()).not.toContain('PRIVATE KEY');

      relay.setSecureContext({ cert: b.cert, key: b.key });
      await expect.poll(() => watcher.failure(), { timeout: 3_000 }).toBeUndefined();
      expect(recorded.at(-1)).toEqual(['relay_tls', 'applied']);
      expect(logs.text()).toContain('the relay serves the certificate written for it again');
    } finally {
      watcher.stop();
    }
  });

  it('says nothing while the relay may still be applying it, or while it does not answer', async () => {
    relay.setSecureContext({ cert: a.cert, key: a.key });
    const applying = watch(b.cert, 60_000);
    const down = watch(b.cert, 0, await freePortBlock(1));
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      expect(applying.watcher.failure()).toBeUndefined();
      expect(down.watcher.failure()).toBeUndefined();
    } finally {
      applying.watcher.stop();
      down.watcher.stop();
    }
  });
});

describe('relayTlsTarget', () => {
  it('is the turns: port of this host’s relay, reached where the service probes it', () => {
    const single = {
      provider: 'coturn' as const,
      secret: 's'.repeat(32),
      turnUris: [
        'turn:turn.example.com:3478?transport=udp',
        'turns:turn.example.com:443?transport=tcp',
      ],
      stunUris: [],
      credentialTtl: 600,
      hashUserIds: false,
      probeUrl: 'turn:10.0.0.5:3478',
    };
    expect(relayTlsTarget(single)).toEqual({
      host: '10.0.0.5',
      port: 443,
      servername: 'turn.example.com',
    });
    const fleet = {
      ...single,
      fleet: {
        defaultRegion: 'eu',
        relays: [
          {
            region: 'eu',
            urls: ['turns:eu.example.com:5349?transport=tcp'],
            probeUrl: 'turn:127.0.0.1:3478',
          },
          { region: 'us', urls: ['turns:us.example.com:5349?transport=tcp'] },
        ],
      },
    };
    expect(relayTlsTarget(fleet)).toEqual({
      host: '127.0.0.1',
      port: 5349,
      servername: 'eu.example.com',
    });
    expect(relayTlsTarget({ ...single, turnUris: single.turnUris.slice(0, 1) })).toBeUndefined();
  });
});
