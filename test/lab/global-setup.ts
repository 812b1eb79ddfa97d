import { cleanupLabEngines } from './engine';
import { cleanupLabs } from './lab';

/**
 * Whatever a failed or killed run left behind under this TURNKEY_LAB_PREFIX goes before the
 * suite starts and again after it ends (createLab also clears a lab's own leftovers), the
 * hosts' Docker engines (their roots, mounts and containers) first.
 */
export async function setup(): Promise<void> {
  await cleanupLabEngines();
  await cleanupLabs();
}

export async function teardown(): Promise<void> {
  await cleanupLabEngines();
  await cleanupLabs();
}
