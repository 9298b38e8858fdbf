/** The timing helpers under `yank watch` (lib/watch/timing.ts): the one timeout helper and the backoff. */

import assert from "node:assert/strict";
import { nextBackoff, within } from "../lib/watch/timing.ts";

Deno.test("within() says how a wait ended and leaves nothing running", async (t) => {
  await t.step("settled, failed, timed out, aborted", async () => {
    assert.deepEqual(await within(Promise.resolve(7), 1000), { kind: "settled", value: 7 });
    const error = new Error("x");
    assert.deepEqual(await within(Promise.reject(error), 1000), { kind: "failed", error });
    assert.deepEqual(await within(new Promise(() => {}), 10), { kind: "timeout" });
    const stop = new AbortController();
    const waiting = within(new Promise(() => {}), Infinity, stop.signal);
    stop.abort();
    assert.deepEqual(await waiting, { kind: "aborted" });
    assert.deepEqual(await within(Promise.resolve(1), 10, stop.signal), { kind: "aborted" });
  });

  await t.step(
    "a settled wait cancels its timer (the test sanitizer would see a leak)",
    async () => {
      await within(Promise.resolve(1), 60_000);
    },
  );
});

Deno.test("the backoff doubles from 0.1 s up to 5 s", () => {
  const delays = [100];
  while (delays.length < 8) delays.push(nextBackoff(delays.at(-1)!));
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
});
