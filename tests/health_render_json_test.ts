/** The JSON renderer of health reports (lib/health/render_json.ts). */

import assert from "node:assert/strict";
import { renderHealthJson } from "../lib/health/render_json.ts";
import { hung, ok } from "./support/health_reports.ts";

Deno.test("the JSON renderer prints one object with the same facts", async (t) => {
  await t.step("one socket: the report itself, with null for what was not measured", () => {
    assert.equal(
      renderHealthJson([hung], false),
      `{"state":"CRITICAL","exit_code":2,"socket":"/run/vm2.qmp","reason":"hung","message":"QEMU's main loop is hung: \\"/run/vm2.qmp\\" sent its greeting but did not answer qmp_capabilities within 5 s","remedy":"a new connection cannot yank through a hang; use \\"yank watch\\" on a second monitor","latency_seconds":null,"instances":null,"qemu_version":"7.2.22","oob":null}\n`,
    );
  });

  await t.step("several sockets: the worst state, counts, and the reports", () => {
    const parsed = JSON.parse(renderHealthJson([ok, hung], true));
    assert.equal(parsed.state, "CRITICAL");
    assert.equal(parsed.exit_code, 2);
    assert.deepEqual(parsed.counts, { CRITICAL: 1, WARNING: 0, UNKNOWN: 0, OK: 1 });
    assert.deepEqual(parsed.sockets.map((s: { socket: string }) => s.socket), [
      "/run/vm1.qmp",
      "/run/vm2.qmp",
    ]);
  });
});
