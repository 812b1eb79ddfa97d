import { describe, expect, it } from 'vitest';
import { freePortBlock } from '../helpers/ports';
import { spawnService } from '../helpers/process';
import { randomToken } from '../helpers/service';

/** The service as a real process (the image's bundle) against what a stranger or a slip can do. */

describe('the image run without a certificate (HOST=0.0.0.0, as service/Dockerfile sets it)', () => {
  it('exits 78 with one line naming HOST and the fix, before listening anywhere', async () => {
    const token = randomToken();
    const svc = await spawnService(
      { HOST: '0.0.0.0', TURN_PROVIDER: 'stun', API_TOKENS: token },
      await freePortBlock(1),
      { wait: false },
    );
    // Bounded, so a service that does start fails here instead of at the test timeout.
    const code = await Promise.race([
      svc.exited,
      new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000)),
    ]);
    await svc.stop();
    expect(code).toBe(78);
    const lines = svc.output().trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        /^turnkey: configuration error: HOST=0\.0\.0\.0 listens on every interface, .*set TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, or HOST to a loopback or private address/,
      ),
    ]);
    expect(svc.output()).not.toContain(token);
  });
});
