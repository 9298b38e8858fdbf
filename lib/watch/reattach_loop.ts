/**
 * `watch --reattach`: after a recovery, the yanked NBD nodes are reattached once their servers
 * answer again, trying 1 s after the recovery and then with a pause doubling to 60 s, for as
 * long as a server does not answer. One loop per connection; a new recovery while it runs
 * changes nothing (the loop already tries every yanked node the selectors pick).
 */

import type { QmpClient } from "../qmp/client.ts";
import { describeFailure, type RemedyWording } from "../errors.ts";
import {
  type ReattachOptions,
  type ReattachResult,
  reattachSelected,
  ServerNotAnsweringError,
} from "../yank/reattach.ts";
import type { ReattachSelectors } from "../yank/reattach_plan.ts";
import { formatAddress } from "../yank/peer_format.ts";
import type { WatchState } from "./log.ts";
import type { ReattachAttemptResult } from "../health/counters.ts";
import { sleep } from "./timing.ts";

/** The first pause after a recovery, in milliseconds. */
export const REATTACH_START_MS = 1000;
/** The longest pause between two attempts, in milliseconds. */
export const REATTACH_MAX_MS = 60_000;

/** How one node's attempt ended, as the textfile counts it. */
export type { ReattachAttemptResult };

/** Options of a ReattachLoop. */
export interface ReattachLoopOptions {
  selectors: ReattachSelectors;
  dryRun: boolean;
  resume: boolean;
  /** Bounds each attempt's waits (the handshake, each QMP command), in milliseconds. */
  timeoutMs: number;
  log: (state: WatchState, message: string) => void;
  /** Told of every node's attempt (for the textfile's counter). */
  onAttempt?: ((result: ReattachAttemptResult) => void) | undefined;
  wording?: RemedyWording | undefined;
  /** Ends the loop: the watchdog stops or the connection ends. */
  signal: AbortSignal;
  /** The reattach itself (tests pass the world in). */
  reattach?: (client: QmpClient, options: ReattachOptions) => Promise<ReattachResult>;
  /** Pauses (tests pass a fake clock in). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<boolean>;
}

/** Retries the reattach of the yanked NBD nodes on one connection until none waits. */
export class ReattachLoop {
  #options: ReattachLoopOptions;
  #running: Promise<void> | undefined;

  constructor(options: ReattachLoopOptions) {
    this.#options = options;
  }

  /** Starts the loop after a recovery, unless it runs already. */
  start(client: QmpClient): void {
    if (this.#running !== undefined) return;
    this.#running = this.#run(client).finally(() => this.#running = undefined);
  }

  /** Resolves when the loop in progress (if any) has ended. */
  async settled(): Promise<void> {
    await this.#running;
  }

  async #run(client: QmpClient): Promise<void> {
    const { signal, log } = this.#options;
    const pause = this.#options.sleep ?? sleep;
    const reattach = this.#options.reattach ?? reattachSelected;
    const count = (result: ReattachAttemptResult) => this.#options.onAttempt?.(result);
    let wait = REATTACH_START_MS;
    for (;;) {
      if (!(await pause(wait, signal)) || signal.aborted) return;
      const next = Math.min(wait * 2, REATTACH_MAX_MS);
      const later = `; next attempt in ${next / 1000} s`;
      let result: ReattachResult;
      try {
        result = await reattach(client, {
          selectors: this.#options.selectors,
          dryRun: this.#options.dryRun,
          resume: this.#options.resume,
          timeoutMs: this.#options.timeoutMs,
        });
      } catch (error) {
        if (client.isClosed) return;
        count("failed");
        log("warning", `reattach attempt failed: ${this.#describe(error)}${later}`);
        wait = next;
        continue;
      }
      for (const done of result.reattached) {
        count("reattached");
        const server = formatAddress(done.target.node.peer.server);
        const verb = this.#options.dryRun ? "would reattach" : "reattached";
        const renamed = done.nameLost === undefined
          ? ""
          : `, now named "${done.now}": ${done.nameLost}`;
        log(
          "reattached",
          `${verb} block-node "${done.node}" (${server}) under "${done.target.parent.name}" in ${
            Math.round(done.ms)
          } ms${renamed}`,
        );
      }
      let waiting = 0;
      for (const { error } of result.refused) {
        if (error instanceof ServerNotAnsweringError) {
          waiting++;
          count("waiting");
          log("reattach-waiting", `${error.message}${later}`);
        } else {
          count("refused");
          log("reattach-refused", this.#describe(error));
        }
      }
      if (result.resume?.resumed) {
        log(
          "resumed",
          `${this.#options.dryRun ? "would resume" : "resumed"} the VM (paused by an I/O error)`,
        );
      } else if (result.resume?.waiting !== undefined && waiting === 0) {
        log(
          "warning",
          `not resuming the VM: ${result.resume.waiting.map((w) => w.disk).join(", ")} still wait`,
        );
      }
      if (waiting === 0) return;
      wait = next;
    }
  }

  #describe(error: unknown): string {
    return describeFailure(error, this.#options.wording);
  }
}
