/** The watchdog's log lines (lib/watch/log.ts): logfmt, and every state documented in help. */

import assert from "node:assert/strict";
import { formatLogLine, WATCH_STATES } from "../lib/watch/log.ts";
import { helpText } from "../lib/cli/help.ts";

Deno.test("the watchdog's log lines are logfmt, one per entry", async (t) => {
  await t.step("plain values stay bare, others are quoted with JSON escapes", () => {
    assert.equal(
      formatLogLine({
        time: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
        socket: "/run/vm1-yank.qmp",
        state: "hung",
        instances: 3,
        message: 'yanking block-node "nbd0"',
      }),
      'time=2026-01-02T03:04:05.678Z socket=/run/vm1-yank.qmp state=hung instances=3 msg="yanking block-node \\"nbd0\\""',
    );
  });

  await t.step("unknown instances are '-', and a newline cannot split the line", () => {
    assert.equal(
      formatLogLine({
        time: 0,
        socket: "/tmp/a b\n.qmp",
        state: "connecting",
        instances: undefined,
        message: "x",
      }),
      'time=1970-01-01T00:00:00.000Z socket="/tmp/a b\\n.qmp" state=connecting instances=- msg=x',
    );
  });
});

Deno.test("watch's help lists every state the watchdog logs, in order", () => {
  const listed = /\nStates: ([^.]+)\./.exec(helpText("watch"))![1]!.split(/,\s+/);
  assert.deepEqual(listed, [...WATCH_STATES]);
});
