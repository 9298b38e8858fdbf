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
import { matchInstances, type YankSelectors } from "../yank/match.ts";

/** One step of a recovery: matched instances of one type, yanked in one command. */
export interface RecoveryStep {
  type: YankInstanceType;
  instances: YankInstance[];
  /** True for the steps whose peers were judged dead; false for the fallback steps. */
  dead: boolean;
}

/** Evidence about the peers, for `planRecovery`. */
export interface PeerEvidence {
  /** Instances whose peer was judged dead. */
  dead: readonly YankInstance[];
}

/** The instances the selectors match, never the watchdog's own monitor chardev. */
export function matchedForRecovery(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  ownChardev: string | undefined,
): YankInstance[] {
  return matchInstances(instances, selectors, { monitorChardev: ownChardev, force: false })
    .instances;
}

/**
 * Plans the steps for the instances `query-yank` listed. The watchdog's own monitor chardev is
 * never part of a step, whether a glob or an exact name matches it. Instances in
 * `evidence.dead` that the selectors match come first.
 */
export function planRecovery(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  ownChardev: string | undefined,
  evidence: PeerEvidence = { dead: [] },
): RecoveryStep[] {
  const matched = matchedForRecovery(instances, selectors, ownChardev);
  const isDead = (i: YankInstance) => evidence.dead.some((d) => sameInstance(d, i));
  const steps: RecoveryStep[] = [];
  for (const dead of [true, false]) {
    for (const type of YANK_INSTANCE_TYPES) {
      const ofType = matched.filter((i) => i.type === type && isDead(i) === dead);
      if (ofType.length > 0) steps.push({ type, instances: ofType, dead });
    }
  }
  return steps;
}
