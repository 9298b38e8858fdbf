/**
 * What the watchdog yanks on a hang, and in which order: least harm first (a migration costs a
 * retry, a chardev a reconnect, an NBD node guest I/O errors), one instance type per step.
 */

import {
  YANK_INSTANCE_TYPES,
  type YankInstance,
  type YankInstanceType,
} from "../yank/instances.ts";
import { matchInstances, type YankSelectors } from "../yank/match.ts";

/** One step of a recovery: every matched instance of one type, yanked in one command. */
export interface RecoveryStep {
  type: YankInstanceType;
  instances: YankInstance[];
}

/**
 * Plans the steps for the instances `query-yank` listed. The watchdog's own monitor chardev is
 * never part of a step, whether a glob or an exact name matches it.
 */
export function planRecovery(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  ownChardev: string | undefined,
): RecoveryStep[] {
  const { instances: matched } = matchInstances(instances, selectors, {
    monitorChardev: ownChardev,
    force: false,
  });
  const steps: RecoveryStep[] = [];
  for (const type of YANK_INSTANCE_TYPES) {
    const ofType = matched.filter((instance) => instance.type === type);
    if (ofType.length > 0) steps.push({ type, instances: ofType });
  }
  return steps;
}
