import type { FleetPlan } from '../../infra';

/**
 * The order in which `pulumi up` acts on a fleet's containers, as the engine runs it
 * (pulumi/pulumi 3.248, pkg/resource/deploy): each resource the program registers is handled
 * as it is registered, in the program's (dependsOn) order: created if its URN is new, left alone
 * if its inputs are the same, replaced otherwise (the component's deleteBeforeReplace: the old
 * one deleted, then the new one created, step_generator.go); resources in the old state that the
 * program did not register are deleted only after the program has finished
 * (deployment_executor.go Execute → performPostSteps → stepGenerator.GenerateDeletes).
 *
 * With host networking every relay host's containers hold the same ports, so a container
 * created on a Docker host where another relay's container of the same role still runs fails
 * (EADDRINUSE; the provider's 90 s health wait fails and the update stops, before its deletes).
 */

export interface EngineContainer {
  /** The resource's name (the URN's last part): `<relay>-<role>`. */
  urn: string;
  /** Its Docker host (the provider it goes through); undefined: the stack's own. */
  host: string;
  role: string;
  /** Everything the provider compares (a change replaces). */
  definition: string;
}

export type EngineStep = {
  op: 'create' | 'replace' | 'delete' | 'same';
  urn: string;
  host: string;
};

/** A fleet plan's containers as the engine knows them. */
export function engineContainers(fleet: FleetPlan): EngineContainer[] {
  return fleet.hosts.flatMap((h) =>
    h.plan.containers.map((c) => ({
      urn: `${h.name}-${c.role}`,
      host: h.dockerHost ?? 'docker:host',
      role: c.role,
      definition: JSON.stringify({ host: h.dockerHost, ...c }),
    })),
  );
}

/**
 * `pulumi up` from `before` to `after`: the steps in the engine's order, or the step that fails
 * because the host's ports are taken, with what holds them.
 */
export function engineUp(
  before: EngineContainer[],
  after: EngineContainer[],
): { steps: EngineStep[]; failed?: { step: EngineStep; heldBy: string } } {
  const live = new Map(before.map((c) => [c.urn, c]));
  const previous = new Map(before.map((c) => [c.urn, c]));
  const steps: EngineStep[] = [];
  const create = (c: EngineContainer, op: 'create' | 'replace') => {
    const step = { op, urn: c.urn, host: c.host };
    const holder = [...live.values()].find((o) => o.host === c.host && o.role === c.role);
    if (holder) return { step, heldBy: holder.urn };
    live.set(c.urn, c);
    steps.push(step);
    return undefined;
  };
  for (const c of after) {
    const old = previous.get(c.urn);
    if (old && old.definition === c.definition) {
      steps.push({ op: 'same', urn: c.urn, host: c.host });
      continue;
    }
    if (old) live.delete(c.urn);
    const failed = create(c, old ? 'replace' : 'create');
    if (failed) return { steps, failed };
  }
  const registered = new Set(after.map((c) => c.urn));
  for (const c of [...before].reverse())
    if (!registered.has(c.urn)) {
      live.delete(c.urn);
      steps.push({ op: 'delete', urn: c.urn, host: c.host });
    }
  return { steps };
}
