/**
 * The probe loop of one connection: an in-band probe every --interval; a probe unanswered for
 * --hang-after is a hang, handed to recoverHang; after each answered probe the peers are
 * refreshed and, with --stall-after, the block jobs and the migration sampled. With --reattach,
 * each recovery starts the reattach loop.
 */

import type { QmpClient } from "../qmp/client.ts";
import { QmpCommandError } from "../qmp/errors.ts";
import { describeFailure, type RemedyWording } from "../errors.ts";
import type { YankInstance } from "../yank/instances.ts";
import { roundLatency } from "../health/state.ts";
import type { WatchCounters, YankReason } from "../health/counters.ts";
import { ProbeRefusedError } from "./errors.ts";
import { type Probe, recoverHang, recoverStall, type RecoveryContext } from "./recover.ts";
import { StallWatch } from "./stall_watch.ts";
import type { Stall } from "./stall.ts";
import { ReattachLoop } from "./reattach_loop.ts";
import type { KnownVm } from "./known_vm.ts";
import type { WatchState } from "./log.ts";
import type { WatchReports } from "./watch_reports.ts";
import type { Watched } from "./connection.ts";
import { sleep, within } from "./timing.ts";

/** How the watchdog of one VM probes and recovers: a part of WatchdogOptions. */
export interface ProbeSettings {
  /** Milliseconds between the starts of two probes. */
  intervalMs: number;
  /** Milliseconds a probe may stay unanswered before it counts as a hang. */
  hangAfterMs: number;
  /** Bounds connecting, negotiating and every out-of-band command, in milliseconds. */
  timeoutMs: number;
  /**
   * Milliseconds a running block job's offset or a migration's bytes may stand still before
   * watch judges the peers behind it and yanks the dead one (--stall-after); undefined: off.
   */
  stallAfterMs?: number | undefined;
  /**
   * `--reattach`: after a recovery, reattach the yanked NBD nodes the block selectors pick once
   * their servers answer (`resume`: then resume a VM an I/O error paused); each node's attempt
   * is counted in `counters` (reattachAttempts).
   */
  reattach?: { resume: boolean } | undefined;
  /**
   * Sends the in-band probe on `client`: query-status by default. A seam for tests, which make
   * it fail in ways nobody foresaw.
   */
  probe?: ((client: QmpClient) => Promise<unknown>) | undefined;
  /** Counts hangs, recoveries and yanks (the --textfile counters); undefined: count nothing. */
  counters?: WatchCounters | undefined;
  /**
   * Words the actions of remedies in log lines and reports (the front end's terms, see
   * lib/errors.ts); without it, remedies that need them are left out.
   */
  wording?: RemedyWording | undefined;
}

/** Options of a ProbeLoop: the settings, and what the watchdog shares with its parts. */
export interface ProbeLoopOptions extends ProbeSettings {
  /** Monotonic clock in milliseconds. */
  monotonic: () => number;
  /** Ends the watchdog. */
  signal: AbortSignal;
  log: (state: WatchState, message: string) => void;
  reports: WatchReports;
}

/** Probes the connections of one VM's watchdog, one at a time. */
export class ProbeLoop {
  #vm: KnownVm;
  #options: ProbeLoopOptions;
  /** The current connection's stall watch (--stall-after), awaited before it is given up. */
  #stallWatch: StallWatch | undefined;
  /** The current connection's reattach loop (--reattach), started after each recovery. */
  #reattach: ReattachLoop | undefined;
  /** Whether a probe was answered since the last `restarted()`. */
  #answered = false;

  constructor(vm: KnownVm, options: ProbeLoopOptions) {
    this.#vm = vm;
    this.#options = options;
  }

  /** Whether a probe was answered since the last restart; clears the flag. */
  restarted(): boolean {
    const answered = this.#answered;
    this.#answered = false;
    return answered;
  }

  /** Settles once the closed connection's stall sample, if any, has ended. */
  async closed(): Promise<void> {
    await this.#stallWatch?.settled();
    this.#stallWatch = undefined;
  }

  /** The context of a recovery through `client`. */
  context(client: QmpClient): RecoveryContext {
    return {
      vm: this.#vm,
      client,
      log: this.#options.log,
      wording: this.#options.wording,
      onYanked: (instances, reason) => this.countYanked(instances, reason),
    };
  }

  /** Counts yanked instances, by type and reason. */
  countYanked(instances: readonly YankInstance[], reason: YankReason): void {
    for (const { type } of instances) this.#options.counters?.add("yanked", { type, reason });
  }

  /**
   * Probes every interval until the connection ends or the signal aborts. Throws
   * ProbeRefusedError when the monitor refuses the probe itself.
   */
  async watch(client: QmpClient): Promise<Watched> {
    const { intervalMs, hangAfterMs, counters, reports } = this.#options;
    const now = this.#options.monotonic;
    this.#stallWatch = this.#newStallWatch(client);
    // One signal for "stop waiting": the watchdog stops or this connection ends.
    const ended = new AbortController();
    client.closed.then(() => ended.abort());
    const live = AbortSignal.any([this.#options.signal, ended.signal]);
    let answered = false;
    const reattach = this.#newReattachLoop(live);
    this.#reattach = reattach;
    while (!live.aborted) {
      const probe = this.#sendProbe(client);
      const first = await within(probe.outcome, hangAfterMs, live);
      if (first.kind === "aborted") return { answered, error: undefined };
      if (first.kind === "settled" && first.value !== "answered") {
        const error = first.value;
        if (error instanceof QmpCommandError) {
          throw new ProbeRefusedError(client.socket, error.errorClass);
        }
        return { answered, error };
      }
      if (first.kind === "timeout") {
        counters?.add("hangs");
        await reports.probed("CRITICAL", undefined);
        const context = { ...this.context(client), probe, hangAfterMs, now, signal: live };
        if (!await recoverHang(context)) return { answered, error: undefined };
        reattach?.start(client);
      }
      answered = true;
      this.#answered = true;
      const latency = (now() - probe.sentAt) / 1000;
      if (first.kind === "timeout") {
        counters?.add("recoveries");
        counters?.set("lastRecovery", roundLatency(latency));
      }
      await reports.probed("OK", latency);
      // Neither is awaited: the probes keep their schedule.
      this.#vm.peers?.refreshIfDue(client);
      this.#stallWatch?.sample(client);
      await sleep(probe.sentAt + intervalMs - now(), live);
    }
    return { answered, error: undefined };
  }

  /**
   * With --stall-after, the connection's stall watch: a stall is handed to recoverStall, which
   * judges the matched peers behind it and yanks the dead ones.
   */
  #newStallWatch(client: QmpClient): StallWatch | undefined {
    const { stallAfterMs, hangAfterMs } = this.#options;
    if (stallAfterMs === undefined) return undefined;
    return new StallWatch({
      stallAfterMs,
      timeoutMs: hangAfterMs,
      onStalls: (stalls) => this.#afterStall(client, stalls),
      onError: (error) =>
        this.#options.log(
          "warning",
          `stall check failed: ${describeFailure(error, this.#options.wording)}`,
        ),
    });
  }

  /** A stall's recovery; with --reattach, the reattach loop starts after it. */
  async #afterStall(client: QmpClient, stalls: readonly Stall[]): Promise<void> {
    await recoverStall(this.context(client), stalls);
    this.#reattach?.start(client);
  }

  /** With --reattach, the connection's reattach loop, started after each recovery. */
  #newReattachLoop(signal: AbortSignal): ReattachLoop | undefined {
    const { reattach, timeoutMs, wording, log, counters } = this.#options;
    if (reattach === undefined) return undefined;
    const vm = this.#vm;
    return new ReattachLoop({
      selectors: {
        blockNode: vm.selectors.blockNode,
        disk: vm.selectors.disk ?? [],
        diskAliases: vm.diskAliases ?? [],
      },
      dryRun: vm.dryRun,
      resume: reattach.resume,
      timeoutMs,
      log,
      onAttempt: (result) => counters?.add("reattachAttempts", { result }),
      wording,
      signal,
    });
  }

  #sendProbe(client: QmpClient): Probe {
    const probe: Probe = {
      sentAt: this.#options.monotonic(),
      done: false,
      outcome: Promise.resolve("answered"),
    };
    // No timeout: the probe waits as long as the connection lasts (and a bounded wait would
    // keep a timer per probe alive until it fired).
    const send = this.#options.probe ??
      ((c: QmpClient) => c.execute("query-status", undefined, { timeoutMs: Infinity }));
    probe.outcome = send(client).then(
      () => "answered" as const,
      (error: unknown) => error instanceof Error ? error : new Error(String(error)),
    ).finally(() => probe.done = true);
    return probe;
  }
}
