/**
 * What the watchdog yanks on a hang, and in which order: first the matched instances whose peer
 * was judged dead, then, only if the main loop still does not answer, the rest; each group least
 * harm first (a migration costs a retry, a chardev a reconnect, an NBD node guest I/O errors),
 * one instance type per step.
 */

import {
  sameInstance,
  YANK_INSTANCE_TYPES,
  type YankInstance,
  type YankInstanceType,
} from "../yank/instances.ts";
import { type BlockDisk, matchInstances, type YankSelectors } from "../yank/match.ts";

/** One step of a recovery: matched instances of one type, yanked in one command. */
export interface RecoveryStep {
  type: YankInstanceType;
  instances: YankInstance[];
  /** True for the steps whose peers were judged dead; false for the fallback steps. */
  dead: boolean;
}

/** What the watchdog knows besides the selectors. */
export interface PlanContext {
  /** The chardev carrying the watchdog's own monitor connection, if known. */
  ownChardev?: string | undefined;
  /** `--spare` globs. */
  spare?: readonly string[];
  /** The disks and their nodes, learnt while the main loop answered. */
  disks?: readonly BlockDisk[];
  /** Instances whose peer was judged dead: yanked first. */
  dead?: readonly YankInstance[];
}

/**
 * The instances the selectors match. No monitor's chardev (the watchdog's own, a conventional
 * monitor name, a `--spare` one) is ever among them, whether a glob or an exact name matches it.
 */
export function matchedForRecovery(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  context: PlanContext,
): YankInstance[] {
  return matchInstances(instances, selectors, {
    monitorChardev: context.ownChardev,
    spare: context.spare ?? [],
    disks: context.disks ?? [],
    force: false,
  }).instances;
}

/**
 * Plans the steps for the instances `query-yank` listed: the matched instances in
 * `context.dead` first, then the other matched ones, each group one type per step.
 */
export function planRecovery(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  context: PlanContext,
): RecoveryStep[] {
  const matched = matchedForRecovery(instances, selectors, context);
  const deadOnes = context.dead ?? [];
  const isDead = (i: YankInstance) => deadOnes.some((d) => sameInstance(d, i));
  const steps: RecoveryStep[] = [];
  for (const dead of [true, false]) {
    for (const type of YANK_INSTANCE_TYPES) {
      const ofType = matched.filter((i) => i.type === type && isDead(i) === dead);
      if (ofType.length > 0) steps.push({ type, instances: ofType, dead });
    }
  }
  return steps;
}
