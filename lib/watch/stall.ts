/**
 * Stalls without a hung main loop: a backup, mirror or stream job whose offset has not moved
 * for --stall-after while it runs, or a migration whose transferred bytes have not moved. Pure:
 * the watchdog feeds samples of `query-block-jobs` and `query-migrate` with their time.
 */

import { isJsonObject } from "../qmp/json_object.ts";

/** One moment's progress: running jobs' offsets and the migration's bytes, with the time. */
export interface ProgressSample {
  /** Milliseconds, any monotonic clock. */
  at: number;
  /** Running block jobs of the kinds that wait on a peer: id (QEMU's `device`) to offset. */
  jobs: Map<string, { type: string; offset: number }>;
  /** The active migration's transferred bytes, if one is active. */
  migration: number | undefined;
}

/** Since when each thing has stood still. */
export interface StallState {
  jobs: Map<string, { offset: number; since: number }>;
  migration: { transferred: number; since: number } | undefined;
}

/** A stall: what stands still and for how long. */
export type Stall =
  | { kind: "job"; id: string; type: string; offset: number; forMs: number }
  | { kind: "migration"; transferred: number; forMs: number };

const STALLABLE_JOBS = new Set(["backup", "mirror", "stream", "commit"]);

/** Reads `query-block-jobs` and `query-migrate` replies into a sample. */
export function progressSample(at: number, blockJobs: unknown, migrate: unknown): ProgressSample {
  const jobs = new Map<string, { type: string; offset: number }>();
  if (Array.isArray(blockJobs)) {
    for (const job of blockJobs) {
      if (!isJsonObject(job) || typeof job.device !== "string") continue;
      if (typeof job.type !== "string" || !STALLABLE_JOBS.has(job.type)) continue;
      if (job.status !== "running" || job.paused === true || typeof job.offset !== "number") {
        continue;
      }
      // Only whether the offset moves counts, not how fast: a job throttled to a speed limit is
      // slow by design, and no stall while its offset still moves.
      jobs.set(job.device, { type: job.type, offset: job.offset });
    }
  }
  let migration: number | undefined;
  if (isJsonObject(migrate) && migrate.status === "active" && isJsonObject(migrate.ram)) {
    if (typeof migrate.ram.transferred === "number") migration = migrate.ram.transferred;
  }
  return { at, jobs, migration };
}

/** The empty state: nothing seen yet. */
export function initialStallState(): StallState {
  return { jobs: new Map(), migration: undefined };
}

/**
 * Folds a sample into the state and returns the stalls: things that have not moved for at
 * least `stallAfterMs`. A thing that moves, ends or starts anew starts its clock again.
 */
export function observeProgress(
  state: StallState,
  sample: ProgressSample,
  stallAfterMs: number,
): { state: StallState; stalls: Stall[] } {
  const next: StallState = { jobs: new Map(), migration: undefined };
  const stalls: Stall[] = [];
  for (const [id, job] of sample.jobs) {
    const before = state.jobs.get(id);
    const since = before !== undefined && before.offset === job.offset ? before.since : sample.at;
    next.jobs.set(id, { offset: job.offset, since });
    if (sample.at - since >= stallAfterMs) {
      stalls.push({
        kind: "job",
        id,
        type: job.type,
        offset: job.offset,
        forMs: sample.at - since,
      });
    }
  }
  if (sample.migration !== undefined) {
    const before = state.migration;
    const since = before !== undefined && before.transferred === sample.migration
      ? before.since
      : sample.at;
    next.migration = { transferred: sample.migration, since };
    if (sample.at - since >= stallAfterMs) {
      stalls.push({ kind: "migration", transferred: sample.migration, forMs: sample.at - since });
    }
  }
  return { state: next, stalls };
}
