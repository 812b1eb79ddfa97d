import { startFakeMetered } from '../helpers/fake-metered';

/**
 * The fake Metered API as a process of its own, so it can run on a lab host (the test process
 * cannot listen inside a namespace): on that host's loopback, where the credential service
 * (host networking) reaches it over plain http as it would a loopback test server. Prints its
 * state as one JSON line at start and after every credential it mints.
 */
async function main() {
  const fake = await startFakeMetered();
  // A slow Metered, for a request still in flight when its container is stopped.
  fake.delayMs = Number(process.env.FAKE_METERED_DELAY_MS ?? 0);
  let printed = -1;
  const report = () => {
    if (fake.mints === printed) return;
    printed = fake.mints;
    const { url, secretKey, lastIssued, mints } = fake;
    process.stdout.write(`${JSON.stringify({ url, secretKey, lastIssued, mints })}\n`);
  };
  report();
  setInterval(report, 100);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
