/**
 * `watch --stall-after` for one connection: after an answered probe, samples the block jobs and
 * the migration (in-band, at most one sample in flight, never awaited by the probe loop), and
 * hands the stalls it finds on. The judging itself is the pure `observeProgress` in stall.ts.
 */

import type { QmpClient } from "../qmp/client.ts";
import {
  initialStallState,
  observeProgress,
  progressSample,
  type Stall,
  type StallState,
} from "./stall.ts";

/** Options of a StallWatch. */
export interface StallWatchOptions {
  /** How long a job's offset or a migration's bytes may stand still, in milliseconds. */
  stallAfterMs: number;
  /** Bounds each sample's in-band queries, in milliseconds. */
  timeoutMs: number;
  /** Receives the stalls one sample found (the clocks then start again). */
  onStalls: (stalls: readonly Stall[]) => Promise<void>;
  /** Receives why a sample failed while the connection lasted. */
  onError: (error: unknown) => void;
}

/** The stall watch of one connection. */
export class StallWatch {
  #options: StallWatchOptions;
  #state: StallState = initialStallState();
  #running: Promise<void> | undefined;

  constructor(options: StallWatchOptions) {
    this.#options = options;
  }

  /** Starts a sample unless one is still in flight; never throws. */
  sample(client: QmpClient): void {
    if (this.#running !== undefined) return;
    this.#running = this.#sample(client)
      .catch((error) => {
        if (!client.isClosed) this.#options.onError(error);
      })
      .finally(() => this.#running = undefined);
  }

  /** Settles once the sample in flight, if any, has ended. */
  async settled(): Promise<void> {
    await this.#running;
  }

  async #sample(client: QmpClient): Promise<void> {
    const { stallAfterMs, timeoutMs } = this.#options;
    const at = performance.now();
    const [jobs, migrate] = await Promise.all([
      client.execute("query-block-jobs", undefined, { timeoutMs }),
      client.execute("query-migrate", undefined, { timeoutMs }),
    ]);
    const { state, stalls } = observeProgress(
      this.#state,
      progressSample(at, jobs, migrate),
      stallAfterMs,
    );
    // After a stall the clocks start again: a stall is judged once per --stall-after.
    this.#state = stalls.length === 0 ? state : initialStallState();
    if (stalls.length > 0) await this.#options.onStalls(stalls);
  }
}
