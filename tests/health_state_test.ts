/** Health states (lib/health/state.ts): which one wins among several sockets. */

import assert from "node:assert/strict";
import { worstState } from "../lib/health/state.ts";

Deno.test("the worst state wins as in Monitoring Plugins' max_state_alt", async (t) => {
  await t.step("CRITICAL > WARNING > UNKNOWN > OK", () => {
    assert.equal(worstState(["OK", "UNKNOWN"]), "UNKNOWN");
    assert.equal(worstState(["UNKNOWN", "WARNING", "OK"]), "WARNING");
    assert.equal(worstState(["WARNING", "CRITICAL", "UNKNOWN"]), "CRITICAL");
    assert.equal(worstState([]), "OK");
  });
});
