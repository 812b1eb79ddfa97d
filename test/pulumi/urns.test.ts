import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/stack';
import { installMocks, FLEET_RELAYS as RELAYS } from './mocks';

/**
 * The URN of every resource infra/program.ts registers, for four stacks, pinned in urns.json.
 * A URN is a resource's identity in the stack's state: one that changes (a renamed resource, a
 * new parent, a moved type) makes `pulumi up` delete the resource and create a new one, e.g.
 * replace the TURN secret every client holds. So each pinned URN must still be registered,
 * or be an alias of a resource registered now (`aliases: [{ name: old }]`, a changed parent);
 * and each URN registered now must be pinned, or alias a pinned one.
 *
 * After a deliberate change (a resource added or removed on purpose), regenerate the fixture:
 *
 *   UPDATE_URNS=1 npx vitest run --project unit test/pulumi/urns.test.ts
 *
 * and review its diff: every removed line is a resource `pulumi up` would delete.
 *
 * How URNs and aliases are observed. The mock's newResource gets neither (MockResourceArgs is
 * type, name, inputs, provider, custom, id: @pulumi/pulumi runtime/mocks.js registerResource),
 * so the mock monitor's registerResource is wrapped to read the RegisterResourceRequest itself:
 * - The URN is the engine's: `urn:pulumi:<stack>::<project>::<parent's qualified type>$<type>::
 *   <name>`, the parent's whole type chain (resource.js createUrn). MockMonitor.newUrn keeps
 *   only the parent's last type, wrong below one level of components, so it is replaced.
 * - Aliases arrive as the request's aliasesList (setMocks turns supportsAliasSpecs on, so
 *   runtime/resource.js sends them as given: an Alias with a URN, or a Spec the engine
 *   resolves). They are resolved as the engine does: a spec's unset name and type are the
 *   resource's, its parent the one given (parentUrn, or none: noParent), else the resource's;
 *   and a child also answers to each of its parent's aliases (resource.js allAliases,
 *   inheritedChildAlias: a child named `<parent name>-x` under the alias's name).
 * The engine's default providers are not registered by the program, so are not pinned.
 */

const FIXTURE = join(__dirname, 'urns.json');
const UPDATE = process.env.UPDATE_URNS === '1';
const PROJECT = 'turnkey';

interface Registration {
  urn: string;
  /** Every URN this resource answers to besides its own. */
  aliases: string[];
}

/** The URN for `type`/`name` under `parent` (a URN, or none), as the engine forms it. */
function urnOf(stack: string, project: string, type: string, name: string, parent?: string) {
  const parentType = parent?.split('::')[2];
  const qualified =
    parentType && parentType !== 'pulumi:pulumi:Stack' ? `${parentType}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

const urnName = (urn: string) => urn.slice(urn.lastIndexOf('::') + 2);
const urnType = (urn: string) => (urn.split('::')[2] ?? '').split('$').pop() as string;

/** The parts of a RegisterResourceRequest read here (proto/resource_pb.js, alias_pb.js). */
interface AliasSpec {
  getName(): string;
  getType(): string;
  getStack(): string;
  getProject(): string;
  getParenturn(): string;
  hasParenturn(): boolean;
  getNoparent(): boolean;
}
interface AliasProto {
  hasUrn(): boolean;
  getUrn(): string;
  getSpec(): AliasSpec | undefined;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getAliasesList(): AliasProto[];
  getAliasurnsList(): string[];
}
interface MockMonitor {
  newUrn(parent: string, type: string, name: string): string;
  registerResource(req: RegisterRequest, callback: unknown): unknown;
}

/** Installs the mocks (test/pulumi/mocks.ts) and records every registration's URN and aliases. */
async function recordUrns(stack: string): Promise<Registration[]> {
  await installMocks(stack);
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitor;
  const seen: Registration[] = [];
  const aliasesByUrn = new Map<string, string[]>();
  monitor.newUrn = (parent, type, name) => urnOf(stack, PROJECT, type, name, parent || undefined);
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const [type, name, parent] = [req.getType(), req.getName(), req.getParent() || undefined];
    const urn = urnOf(stack, PROJECT, type, name, parent);
    const own = [
      ...req.getAliasurnsList(),
      ...req.getAliasesList().map((a) => {
        const spec = a.getSpec();
        if (a.hasUrn() || !spec) return a.getUrn();
        const aliasParent = spec.getNoparent()
          ? undefined
          : spec.hasParenturn() && spec.getParenturn()
            ? spec.getParenturn()
            : parent;
        return urnOf(
          spec.getStack() || stack,
          spec.getProject() || PROJECT,
          spec.getType() || type,
          spec.getName() || name,
          aliasParent,
        );
      }),
    ];
    const inherited = parent
      ? (aliasesByUrn.get(parent) ?? []).flatMap((parentAlias) =>
          [urn, ...own].map((child) => {
            const childName = urnName(child);
            const parentName = urnName(parent);
            const aliasName = childName.startsWith(parentName)
              ? urnName(parentAlias) + childName.slice(parentName.length)
              : childName;
            const [, , , aliasStack = stack, aliasProject = PROJECT] =
              parentAlias.match(/^urn:pulumi:([^:]*)::([^:]*)::/) ?? [];
            return urnOf(aliasStack, aliasProject, urnType(child), aliasName, parentAlias);
          }),
        )
      : [];
    const aliases = [...new Set([...own, ...inherited])].filter((a) => a !== urn);
    aliasesByUrn.set(urn, aliases);
    seen.push({ urn, aliases });
    return register(req, callback);
  };
  return seen;
}

// Internal to the SDK (runtime/settings.js, stripped from its typings): resolves once every
// registration the program started has been answered.
const { waitForRPCs } = pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> };

/** Runs infra/program.ts afresh as `stack` with `config`, and returns what it registered. */
async function registrations(
  stack: string,
  config: Record<string, string>,
  secretKeys: string[] = [],
  containers = 2,
): Promise<Registration[]> {
  vi.resetModules();
  const seen = await recordUrns(stack);
  pulumi.runtime.setAllConfig(config, secretKeys);
  await import('../../infra/program.js');
  await waitForRPCs();
  // Containers register once their images (and the previous host's containers) resolve.
  const count = () => seen.filter((r) => r.urn.includes('docker:index/container:Container')).length;
  for (let i = 0; i < 200 && count() < containers; i++) await new Promise((r) => setTimeout(r, 10));
  expect(count()).toBe(containers);
  return seen;
}

/** What differs between the pinned URNs and those registered now, aliases accounted for. */
function compare(pinned: string[], now: Registration[]) {
  const pinnedSet = new Set(pinned);
  const answered = new Set(now.flatMap((r) => [r.urn, ...r.aliases]));
  return {
    missing: pinned.filter((urn) => !answered.has(urn)),
    added: now
      .filter((r) => !pinnedSet.has(r.urn) && !r.aliases.some((a) => pinnedSet.has(a)))
      .map((r) => r.urn),
  };
}

const fixture: Record<string, string[]> = existsSync(FIXTURE)
  ? JSON.parse(readFileSync(FIXTURE, 'utf8'))
  : {};
const updated: Record<string, string[]> = {};

afterAll(() => {
  if (UPDATE) writeFileSync(FIXTURE, `${JSON.stringify({ ...fixture, ...updated }, null, 2)}\n`);
});

function pin(key: string, now: Registration[]) {
  const urns = [...new Set(now.map((r) => r.urn))].sort();
  expect(urns.length, 'two resources registered the same URN').toBe(now.length);
  if (UPDATE) {
    updated[key] = urns;
    return;
  }
  const pinned = fixture[key];
  if (!pinned) throw new Error(`urns.json has no "${key}": regenerate it (see this file's header)`);
  const { missing, added } = compare(pinned, now);
  if (missing.length || added.length)
    expect.fail(
      [
        `stack "${key}": a resource changed its URN: add an alias (pulumi.ResourceOptions.aliases) so existing stacks keep it.`,
        ...(missing.length
          ? [
              'Pinned in test/pulumi/urns.json, no longer registered nor aliased (pulumi up would delete):',
              ...missing.map((u) => `  - ${u}`),
            ]
          : []),
        ...(added.length
          ? [
              'Registered now, not pinned and aliasing nothing pinned (pulumi up would create):',
              ...added.map((u) => `  + ${u}`),
            ]
          : []),
        'A deliberate addition or removal: UPDATE_URNS=1 npx vitest run --project unit test/pulumi/urns.test.ts',
      ].join('\n'),
    );
}

describe('the URNs of existing stacks (their identity in state) stay as pinned', () => {
  it('the dev stack (Pulumi.dev.yaml)', async () => {
    const { config } = parse(readFileSync(join(REPO_ROOT, 'Pulumi.dev.yaml'), 'utf8')) as {
      config: Record<string, string>;
    };
    pin('dev', await registrations('dev', config));
  });

  it('provider=metered', async () => {
    const config = {
      'turnkey:provider': 'metered',
      'turnkey:publicHost': 'turn.example.com',
      'turnkey:meteredApiUrl': 'https://example.metered.live',
      'turnkey:meteredApiKey': 'metered-secret-key',
    };
    pin('metered', await registrations('prod', config, ['turnkey:meteredApiKey'], 1));
  });

  it('provider=stun', async () => {
    const config = { 'turnkey:provider': 'stun', 'turnkey:publicHost': 'turn.example.com' };
    pin('stun', await registrations('prod', config, [], 1));
  });

  it('a three-relay fleet (turnkey:relays)', async () => {
    const config = {
      'turnkey:relays': JSON.stringify(RELAYS),
      'turnkey:secretGeneration': '2',
    };
    pin('fleet', await registrations('prod', config, [], 6));
  });
});
