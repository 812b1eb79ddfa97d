import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startFakeTurn } from '../test/helpers/fake-turn';
import { freePortBlock } from '../test/helpers/ports';
import { serviceBundle } from '../test/helpers/process';
import { median, publish, table } from './report';

/** Process start to the first 200 from /readyz (which includes a real TURN allocation). */
export async function startup(): Promise<void> {
  const RUNS = 10;
  const relay = await startFakeTurn();
  const bundle = serviceBundle();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const port = await freePortBlock(1);
    const started = performance.now();
    const child = spawn(process.execPath, [bundle], {
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        PORT: String(port),
        METRICS_PORT: '0',
        TURN_PROVIDER: 'coturn',
        TURN_SECRET: randomBytes(24).toString('hex'),
        TURN_URLS: `turn:127.0.0.1:${relay.port}`,
        API_TOKENS: randomBytes(24).toString('hex'),
      },
      stdio: 'ignore',
    });
    const deadline = started + 15_000;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (performance.now() > deadline) throw new Error('service not ready within 15 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    times.push(performance.now() - started);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await relay.close();
  publish(
    'startup',
    'Start-up: process start to first ready',
    table(
      ['runs', 'median ms', 'min ms', 'max ms'],
      [
        [
          RUNS,
          median(times).toFixed(0),
          Math.min(...times).toFixed(0),
          Math.max(...times).toFixed(0),
        ],
      ],
    ),
    [
      'The bundled service (coturn provider), spawned with node and polled every 5 ms until /readyz answers 200, which needs a TURN allocation answered by a loopback stand-in (test/helpers/fake-turn.ts).',
    ],
  );
}
