import { footprint } from './footprint';
import { meteredPath } from './metered';
import { relayCost } from './relay-cost';
import { relayThroughput } from './relay-throughput';
import { serviceThroughput } from './service-throughput';
import { startup } from './startup';
import { turnAllocations } from './turn-allocations';

/** `npm run bench [-- name…]`: runs the named benchmarks (all by default), one after another. */
const BENCHMARKS: Record<string, () => Promise<void>> = {
  'service-throughput': serviceThroughput,
  'relay-throughput': relayThroughput,
  'relay-cost': relayCost,
  metered: meteredPath,
  'turn-allocations': turnAllocations,
  startup,
  footprint,
};

async function main() {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0)
    throw new Error(
      `unknown benchmark ${unknown.join(', ')}: choose from ${Object.keys(BENCHMARKS).join(', ')}`,
    );
  for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHMARKS)) {
    process.stdout.write(`\n== ${name}\n`);
    await (BENCHMARKS[name] as () => Promise<void>)();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  },
);
