/**
 * What the watchdog yanks on a hang, and in which order: least harm first (a migration costs a
 * retry, a chardev a reconnect, an NBD node guest I/O errors), one instance type per step.
 */

import {
  YANK_INSTANCE_TYPES,
  type YankInstance,
  type YankInstanceType,
} from "../yank/instances.ts";
import { type BlockDisk, matchInstances, type YankSelectors } from "../yank/match.ts";

/** One step of a recovery: every matched instance of one type, yanked in one command. */
export interface RecoveryStep {
  type: YankInstanceType;
  instances: YankInstance[];
}

/** What the watchdog knows besides the selectors. */
export interface PlanContext {
  /** The chardev carrying the watchdog's own monitor connection, if known. */
  ownChardev?: string | undefined;
  /** `--spare` globs. */
  spare?: readonly string[];
  /** The disks and their nodes, learnt while the main loop answered. */
  disks?: readonly BlockDisk[];
}

/**
 * Plans the steps for the instances `query-yank` listed. No monitor's chardev (the watchdog's
 * own, a conventional monitor name, a `--spare` one) is ever part of a step, whether a glob or
 * an exact name matches it.
 */
export function planRecovery(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  context: PlanContext,
): RecoveryStep[] {
  const { instances: matched } = matchInstances(instances, selectors, {
    monitorChardev: context.ownChardev,
    spare: context.spare ?? [],
    disks: context.disks ?? [],
    force: false,
  });
  const steps: RecoveryStep[] = [];
  for (const type of YANK_INSTANCE_TYPES) {
    const ofType = matched.filter((instance) => instance.type === type);
    if (ofType.length > 0) steps.push({ type, instances: ofType });
  }
  return steps;
}
