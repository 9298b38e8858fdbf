/** What a health probe reports (lib/health/probe.ts): a failure's finding and remedy, latencies. */

import assert from "node:assert/strict";
import { formatLatency, reportFailure } from "../lib/health/probe.ts";
import { QmpConnectError, QmpTimeoutError } from "../lib/qmp/errors.ts";
import { wordRemedyAction } from "../lib/cli/remedies.ts";

Deno.test("helpers keep remedies apart and format latencies for humans", async (t) => {
  await t.step("a failure report takes the finding and the remedy from the error", () => {
    const missing = reportFailure("/x", new QmpConnectError("/x", "missing"));
    assert.equal(missing.message, `Cannot connect to "/x": no such file`);
    assert.equal(missing.remedy, "is the VM running, and is this its QMP socket?");
    const slow = new QmpTimeoutError("/x", "connect", 5000);
    assert.equal(
      reportFailure("/x", slow, wordRemedyAction).remedy,
      "is the VM overloaded? try a longer --timeout",
    );
    // Without the front end's words, a remedy that needs them is left out, not said in half.
    assert.equal(reportFailure("/x", slow).remedy, "");
    assert.equal(reportFailure("/x", slow).message, `Cannot connect to "/x": no answer within 5 s`);
  });

  await t.step("formatLatency() prints milliseconds below a second", () => {
    assert.equal(formatLatency(0.0008), "0.8 ms");
    assert.equal(formatLatency(0.01234), "12.3 ms");
    assert.equal(formatLatency(1.256), "1.26 s");
    assert.equal(formatLatency(undefined), "(no answer)");
  });
});
