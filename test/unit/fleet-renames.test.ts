import { describe, expect, it } from 'vitest';
import { type FleetPlan, planFleet, readFleetConfig, valuesSource } from '../../infra';
import { positionalNames } from '../../infra/stack/fleet';
import { engineContainers, engineUp } from '../helpers/engine-order';
import { REPO_ROOT } from '../helpers/stack';

/**
 * Adding, removing, reordering and renaming fleet relays, through the engine's order of steps
 * (helpers/engine-order.ts): with every relay named, each change touches only the relays it
 * names; positional names (what the fleet had before `name`) make a removal rename another
 * relay onto a host whose ports its old containers still hold.
 */

type Relay = { name?: string; region: string; dockerHost?: string; publicHost: string };
const EU: Relay = { region: 'eu-west', publicHost: 'eu.turn.example.com' };
const US1: Relay = {
  name: 'us-1',
  region: 'us-east',
  dockerHost: 'ssh://us1',
  publicHost: 'us1.turn.example.com',
};
const US2: Relay = {
  name: 'us-2',
  region: 'us-east',
  dockerHost: 'ssh://us2',
  publicHost: 'us2.turn.example.com',
};

const plan = (relays: Relay[]): FleetPlan =>
  planFleet(readFleetConfig(valuesSource({ relays: JSON.stringify(relays) })), {
    stack: 'prod',
    projectRoot: REPO_ROOT,
  });
const up = (before: Relay[], after: Relay[]) =>
  engineUp(engineContainers(plan(before)), engineContainers(plan(after)));

describe('a fleet whose relays have names', () => {
  it('removing one in the middle deletes only it, after the program, touching no other', () => {
    const { steps, failed } = up([EU, US1, US2], [EU, US2]);
    expect(failed).toBeUndefined();
    // Only the services the relay list changed (TURN_RELAYS) are replaced; no relay is.
    expect(steps.filter((s) => s.op === 'create' || s.op === 'replace').map((s) => s.urn)).toEqual([
      'turnkey-service',
      'turnkey-us-2-service',
    ]);
    expect(steps.filter((s) => s.op === 'delete').map((s) => s.urn)).toEqual([
      'turnkey-us-1-coturn',
      'turnkey-us-1-service',
    ]);
  });

  it('reordering them replaces no relay', () => {
    const { steps, failed } = up([EU, US1, US2], [EU, US2, US1]);
    expect(failed).toBeUndefined();
    expect(steps.filter((s) => s.urn.endsWith('-coturn')).map((s) => s.op)).toEqual([
      'same',
      'same',
      'same',
    ]);
  });

  it('a rename on the same host cannot be one update: remove it, then add it under the new name', () => {
    const renamed = { ...US1, name: 'us-east-a' };
    const once = up([EU, US1, US2], [EU, renamed, US2]);
    expect(once.failed).toMatchObject({
      step: { op: 'create', urn: 'turnkey-us-east-a-service', host: 'ssh://us1' },
      heldBy: 'turnkey-us-1-service',
    });
    // docs/deploying.md: two updates.
    expect(up([EU, US1, US2], [EU, US2]).failed).toBeUndefined();
    expect(up([EU, US2], [EU, renamed, US2]).failed).toBeUndefined();
  });
});

describe('positional names (the fleet before turnkey:relays[i].name)', () => {
  /** Each relay named as it was deployed by position (what readFleetConfig now tells to set). */
  const byPosition = (relays: Relay[]) => {
    const names = positionalNames(relays as never);
    return relays.map((r, i) => {
      const { name: _, ...rest } = r;
      return names[i] ? { ...rest, name: names[i] } : rest;
    });
  };

  it('removing a relay renames the next onto its own host while its old containers hold the ports', () => {
    const { failed } = up(byPosition([EU, US1, US2]), byPosition([EU, US2]));
    expect(failed).toMatchObject({
      step: { op: 'replace', urn: 'turnkey-us-east-service', host: 'ssh://us2' },
      heldBy: 'turnkey-us-east-2-service',
    });
  });

  it('are what a missing name is told to set, so naming a deployed fleet replaces nothing', () => {
    expect(positionalNames([EU, US1, US2] as never)).toEqual([undefined, 'us-east', 'us-east-2']);
    const { steps } = up(byPosition([EU, US1, US2]), byPosition([EU, US1, US2]));
    expect(steps.every((s) => s.op === 'same')).toBe(true);
  });
});
