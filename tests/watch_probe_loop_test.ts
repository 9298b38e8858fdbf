/**
 * The watchdog's schedule follows a monotonic clock: a wall clock stepped back (by NTP or an
 * operator) changes only the times in the log, never when the next probe is sent.
 */

import assert from "node:assert/strict";
import { Watchdog } from "../lib/watch/watchdog.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";

const HOUR_MS = 3_600_000;

Deno.test("a wall clock stepped back an hour does not pause probing", async () => {
  let statuses = 0;
  let stepped = false;
  const stop = new AbortController();
  await using fake = await startFakeQmp({
    reply: (command) => {
      if (command.name !== "query-status") return undefined;
      statuses += 1;
      // After the second probe the wall clock jumps back an hour.
      if (statuses === 2) stepped = true;
      // Five probes after the step: the schedule went on.
      if (statuses === 7) stop.abort();
      return undefined;
    },
  });
  const lines: string[] = [];
  const watchdog = new Watchdog({
    socket: fake.path,
    selectors: { chardev: [], blockNode: [], migration: false },
    intervalMs: 20,
    hangAfterMs: 2000,
    timeoutMs: 2000,
    dryRun: false,
    log: (line) => lines.push(line),
    now: () => Date.now() - (stepped ? HOUR_MS : 0),
    signal: stop.signal,
  });
  // Only a guard against hanging the suite: before the fix, probing paused for the hour.
  const guard = setTimeout(() => stop.abort(), 10_000);
  try {
    await watchdog.run();
  } finally {
    clearTimeout(guard);
  }
  assert.ok(statuses >= 7, `probes after the step: ${statuses - 2}\n${lines.join("\n")}`);
  // Log timestamps stay wall time: the line after the step shows the stepped clock.
  const stopped = lines.find((l) => /state=stopped/.test(l))!;
  const year = new Date(Date.now() - HOUR_MS).toISOString().slice(0, 13);
  assert.ok(stopped.includes(year), stopped);
});
