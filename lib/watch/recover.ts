/**
 * Carrying out a recovery: while a probe stays unanswered past --hang-after, list the
 * instances out-of-band, yank what `planRecovery` chose step by step, and wait for the main
 * loop after each step; pass after pass until the probe is answered. Before planning, the peers
 * of the matched instances are judged (the dead ones are yanked first); a stalled block job or
 * migration is recovered the same way, yanking only dead peers. What to yank is decided by the
 * pure planner in recovery.ts; this module only executes and logs.
 */

import type { QmpClient } from "../qmp/client.ts";
import { formatSeconds } from "../qmp/errors.ts";
import { describeFailure, type RemedyWording } from "../errors.ts";
import { queryYank, yankRetryingOnce } from "../yank/yank.ts";
import { describeInstances, sameInstance, type YankInstance } from "../yank/instances.ts";
import { hasSelectors, type YankSelectors } from "../yank/match.ts";
import { matchedForRecovery, type PlanContext, planRecovery } from "./recovery.ts";
import { describeJudgement, type PeerBook } from "./peer_book.ts";
import type { KnownVm } from "./known_vm.ts";
import type { Stall } from "./stall.ts";
import type { WatchState } from "./log.ts";
import type { YankReason } from "../health/counters.ts";
import { within } from "./timing.ts";

/**
 * Longest wait for the main loop after each recovery step, and the first pause between two
 * recovery passes, in milliseconds.
 */
const STEP_WAIT_MS = 1000;
/**
 * The span over which the kernel's view of QEMU's sockets is sampled to judge its peers, in
 * milliseconds; with the first sample (which also lists QEMU's sockets) a judgement takes about
 * 0.3 s.
 */
const JUDGE_BOUND_MS = 200;

/** The probe in flight: sent once, never abandoned while its connection lasts. */
export interface Probe {
  /** When it was sent, on the watchdog's monotonic clock: the interval, durations, latency. */
  sentAt: number;
  /** Settles with "answered", or with the error that ended the probe. */
  outcome: Promise<"answered" | Error>;
  done: boolean;
}

/** What a recovery needs from the watchdog of one VM. */
export interface RecoveryContext {
  /** What is known about the VM: selectors, --dry-run, its own chardev, disks and peers. */
  vm: KnownVm;
  /** The pre-negotiated out-of-band connection. */
  client: QmpClient;
  log: (state: WatchState, message: string) => void;
  /** Words the actions of remedies in log lines (see lib/errors.ts). */
  wording?: RemedyWording | undefined;
  /** Called with the instances each yank cut, and why they were yanked (for the counters). */
  onYanked: (instances: readonly YankInstance[], reason: YankReason) => void;
}

/** What recovering a hang needs besides: the probe in flight and the watchdog's clock. */
export interface HangContext extends RecoveryContext {
  probe: Probe;
  hangAfterMs: number;
  /** The watchdog's monotonic clock, as the probe's sentAt counts. */
  now: () => number;
  /** Aborts when the watchdog stops or the connection ends. */
  signal: AbortSignal;
}

/**
 * A probe went unanswered for --hang-after: runs recovery passes until the probe is answered.
 * Each pass lists the instances out-of-band afresh, yanks what the selectors match step by step
 * and waits for the probe after each step; while the main loop stays hung, the next pass follows
 * after a pause (1 s doubling, at most --hang-after). The probe is never resent, so there is
 * still only one in-band command in flight. Resolves true once the probe is answered (after
 * logging the recovery), false if the connection ended or the watchdog stopped first.
 */
export async function recoverHang(context: HangContext): Promise<boolean> {
  const { hangAfterMs, log, probe, signal } = context;
  if (!hasSelectors(context.vm.selectors)) {
    log(
      "hung",
      `main loop did not answer query-status within ${
        formatSeconds(hangAfterMs)
      }; no selectors given, so nothing is yanked`,
    );
    return logRecovery(context, [], await within(probe.outcome, Infinity, signal));
  }
  const yanked: YankInstance[] = [];
  let pause = Math.min(STEP_WAIT_MS, hangAfterMs);
  for (let pass = 1;; pass++) {
    if (!await recoveryPass(context, pass, yanked)) return false;
    if (!probe.done) {
      log(
        "still-hung",
        `main loop still hung ${formatSeconds(context.now() - probe.sentAt)} after the probe${
          yanked.length > 0 ? ` and after yanking ${describeInstances(yanked)}` : ""
        }; recovery pass ${pass + 1} in ${formatSeconds(pause)}`,
      );
    }
    const waited = await within(probe.outcome, pause, signal);
    if (waited.kind !== "timeout") return logRecovery(context, yanked, waited);
    pause = Math.min(pause * 2, hangAfterMs);
  }
}

/**
 * One recovery pass: a fresh query-yank, then the planned steps (never the own chardev). Adds
 * what it yanked to `yanked`. False if the connection ended or the watchdog stopped.
 */
async function recoveryPass(
  context: HangContext,
  pass: number,
  yanked: YankInstance[],
): Promise<boolean> {
  const { vm, client, probe, hangAfterMs, now, log, signal } = context;
  const hung = pass === 1
    ? `main loop did not answer query-status within ${formatSeconds(hangAfterMs)}`
    : `recovery pass ${pass}, main loop hung for ${formatSeconds(now() - probe.sentAt)}`;
  let instances: YankInstance[];
  try {
    instances = await queryYank(client);
    vm.instances = instances.length;
  } catch (error) {
    if (client.isClosed) return false;
    log("hung", `${hung}, and query-yank failed: ${describeFailure(error, context.wording)}`);
    return true;
  }
  const dead = await judgeDead(context, instances, instances);
  const steps = planRecovery(instances, vm.selectors, { ...vm.plan, dead });
  log(
    "hung",
    `${hung}; ${
      steps.length === 0
        ? "no instance matches the selectors"
        : `${vm.dryRun ? "would yank" : "will yank"} in ${steps.length} step(s): ${
          steps.map((s) => describeInstances(s.instances)).join("; ")
        }`
    }`,
  );
  for (const step of steps) {
    if (probe.done) break;
    if (vm.dryRun) {
      log("would-yank", `would yank ${describeInstances(step.instances)} (dry run)`);
      continue;
    }
    const why = step.dead
      ? " (peer judged dead)"
      : dead.length > 0
      ? " (fallback: the main loop still does not answer)"
      : "";
    log("yanking", `yanking ${describeInstances(step.instances)}${why}`);
    try {
      const result = await yankRetryingOnce(client, step.instances);
      // Without a dead verdict for it, an instance is yanked only because the hang went on.
      context.onYanked(result.yanked, step.dead ? "dead-peer" : "fallback");
      for (const instance of result.yanked) {
        if (!yanked.some((y) => sameInstance(y, instance))) yanked.push(instance);
      }
    } catch (error) {
      log(
        "hung",
        `yank of ${describeInstances(step.instances)} failed: ${
          describeFailure(error, context.wording)
        }`,
      );
      if (client.isClosed) return false;
      continue;
    }
    const waited = await within(probe.outcome, Math.min(STEP_WAIT_MS, hangAfterMs), signal);
    if (waited.kind === "aborted" || waited.kind === "failed") return false;
    if (waited.kind === "settled") return waited.value === "answered";
  }
  return true;
}

/** What judging peers needs from the watchdog. */
interface JudgeContext {
  /** The peers learnt while the main loop answered; undefined: judge nothing. */
  peers: PeerBook | undefined;
  selectors: YankSelectors;
  log: (state: WatchState, message: string) => void;
  dryRun?: boolean;
}

/**
 * Judges the peers of the instances in `among` that the selectors match (within about 0.3 s),
 * logs each verdict with its evidence, and returns the instances whose peer is dead. When
 * nothing can be judged, one line says why and nothing is dead: the caller yanks every match,
 * as a watch without peer evidence does.
 */
export async function judgeDeadPeers(
  context: JudgeContext,
  instances: readonly YankInstance[],
  among: readonly YankInstance[],
  plan: PlanContext,
): Promise<YankInstance[]> {
  const { peers, log } = context;
  const matched = matchedForRecovery(among, context.selectors, plan);
  if (matched.length === 0 || peers === undefined) return [];
  const judgements = await peers.judge(instances, matched, JUDGE_BOUND_MS);
  if (judgements.every((j) => j.verdict.state === "unknown")) {
    // One line, not one per instance: the reason is usually the same for all.
    const reasons = [...new Set(judgements.map((j) => j.verdict.evidence))];
    log(
      "judged",
      `no evidence about the matched peers (${reasons.join("; ")}): ${
        context.dryRun ? "would yank" : "yanking"
      } every match, least harm first`,
    );
    return [];
  }
  for (const judgement of judgements) log("judged", describeJudgement(judgement));
  return judgements.filter((j) => j.verdict.state === "dead").map((j) => j.instance);
}

/**
 * A block job or the migration stood still for --stall-after while the main loop answered:
 * judges the matched peers that could be behind it (block nodes for a job, the migration for a
 * migration) and yanks only the dead ones; with no dead peer it yanks nothing.
 */
export async function recoverStall(
  context: RecoveryContext,
  stalls: readonly Stall[],
): Promise<void> {
  const { vm, client, log } = context;
  const what = stalls.map((s) =>
    s.kind === "job"
      ? `${s.type} job ${JSON.stringify(s.id)} has not moved from offset ${s.offset} for ${
        formatSeconds(s.forMs)
      }`
      : `the migration has not sent a byte for ${formatSeconds(s.forMs)}`
  ).join("; ");
  const instances = await queryYank(client);
  vm.instances = instances.length;
  const behind = instances.filter((i) =>
    stalls.some((s) => s.kind === "job" ? i.type === "block-node" : i.type === "migration")
  );
  const dead = await judgeDead(context, instances, behind);
  log(
    "stalled",
    `${what}; ${
      dead.length === 0
        ? "no matched peer behind it is judged dead, nothing yanked"
        : `${vm.dryRun ? "would yank" : "yanking"} ${describeInstances(dead)}`
    }`,
  );
  if (dead.length === 0) return;
  if (vm.dryRun) {
    log("would-yank", `would yank ${describeInstances(dead)} (dry run)`);
    return;
  }
  log("yanking", `yanking ${describeInstances(dead)} (peer judged dead)`);
  const result = await yankRetryingOnce(client, dead);
  context.onYanked(result.yanked, "stall");
}

/** judgeDeadPeers over what the watchdog knows about the VM. */
function judgeDead(
  context: RecoveryContext,
  instances: readonly YankInstance[],
  among: readonly YankInstance[],
): Promise<YankInstance[]> {
  const { vm, log } = context;
  const judge = { peers: vm.peers, selectors: vm.selectors, dryRun: vm.dryRun, log };
  return judgeDeadPeers(judge, instances, among, vm.plan);
}

/** Logs the recovery if the probe was answered; true then. */
function logRecovery(
  context: HangContext,
  yanked: readonly YankInstance[],
  waited: Awaited<ReturnType<typeof within<"answered" | Error>>>,
): boolean {
  if (waited.kind !== "settled" || waited.value !== "answered") return false;
  const took = formatSeconds(context.now() - context.probe.sentAt);
  context.log(
    "recovered",
    `main loop answered again, ${took} after the probe was sent${
      yanked.length > 0 ? `, after yanking ${describeInstances(yanked)}` : ""
    }`,
  );
  return true;
}
