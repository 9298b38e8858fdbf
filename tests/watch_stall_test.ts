/**
 * Stall detection as a pure function: samples in, stalls out, no timers.
 */

import assert from "node:assert/strict";
import { initialStallState, observeProgress, progressSample } from "../lib/watch/stall.ts";

const FIXTURE = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/qemu_7.2_peers.json", import.meta.url)),
);

const job = (offset: number, extra: Record<string, unknown> = {}) => [{
  device: "job0",
  type: "backup",
  status: "running",
  paused: false,
  offset,
  len: 1 << 26,
  ...extra,
}];

function run(samples: [number, unknown, unknown][], stallAfterMs: number) {
  let state = initialStallState();
  return samples.map(([at, jobs, migrate]) => {
    const result = observeProgress(state, progressSample(at, jobs, migrate), stallAfterMs);
    state = result.state;
    return result.stalls;
  });
}

Deno.test("observeProgress() finds stalled jobs and migrations", async (t) => {
  await t.step("QEMU 7.2's stuck backup job stalls once its offset stood still long enough", () => {
    const jobs = FIXTURE.backup["query-block-jobs"];
    const stalls = run([[0, jobs, {}], [2000, jobs, {}], [3000, jobs, {}]], 3000);
    assert.deepEqual(stalls, [[], [], [{
      kind: "job",
      id: "job0",
      type: "backup",
      offset: 0,
      forMs: 3000,
    }]]);
  });

  await t.step("a job that moves restarts its clock", () => {
    const stalls = run([[0, job(0), {}], [2000, job(512), {}], [4000, job(512), {}]], 3000);
    assert.deepEqual(stalls, [[], [], []]);
    const later = run(
      [[0, job(0), {}], [2000, job(512), {}], [4000, job(512), {}], [5000, job(512), {}]],
      3000,
    );
    assert.equal(later[3]![0]?.kind, "job");
  });

  await t.step("paused, ready-and-idle or other kinds of jobs never stall", () => {
    const paused = job(0, { paused: true });
    const ready = job(0, { status: "ready" });
    const create = job(0, { type: "create" });
    for (const jobs of [paused, ready, create]) {
      assert.deepEqual(run([[0, jobs, {}], [9000, jobs, {}]], 3000), [[], []]);
    }
  });

  await t.step("QEMU 7.2's active migration stalls when its bytes stand still", () => {
    const migrate = FIXTURE.migrating["query-migrate"];
    const stalls = run([[0, [], migrate], [3500, [], migrate]], 3000);
    assert.deepEqual(stalls[1], [{ kind: "migration", transferred: 147500, forMs: 3500 }]);
    const moved = { ...migrate, ram: { ...migrate.ram, transferred: 200000 } };
    assert.deepEqual(run([[0, [], migrate], [3500, [], moved]], 3000)[1], []);
    const done = { ...migrate, status: "completed" };
    assert.deepEqual(run([[0, [], migrate], [3500, [], done]], 3000)[1], []);
  });
});
