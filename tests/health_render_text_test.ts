/** The text renderer of health reports (lib/health/render_text.ts): Monitoring Plugins lines. */

import assert from "node:assert/strict";
import { renderHealthText } from "../lib/health/render_text.ts";
import { hung, ok } from "./support/health_reports.ts";

Deno.test("the text renderer writes Monitoring Plugins status lines", async (t) => {
  await t.step("one socket: state, finding and perfdata on one line", () => {
    assert.equal(
      renderHealthText([ok], false),
      "YANK OK - main loop answered in 0.8 ms, 3 yank instances | latency=0.0008s instances=3\n",
    );
  });

  await t.step("a value that was not measured is U in the perfdata", () => {
    assert.equal(
      renderHealthText([hung], false),
      `YANK CRITICAL - QEMU's main loop is hung: "/run/vm2.qmp" sent its greeting but did not answer qmp_capabilities within 5 s | latency=U instances=U\n`,
    );
  });

  await t.step("several sockets: a summary line first, then one line per socket", () => {
    assert.equal(
      renderHealthText([ok, hung], true),
      "YANK CRITICAL - 2 sockets: 1 CRITICAL, 0 WARNING, 0 UNKNOWN, 1 OK | critical=1 warning=0 unknown=0 ok=1\n" +
        'OK "/run/vm1.qmp": main loop answered in 0.8 ms, 3 yank instances\n' +
        `CRITICAL "/run/vm2.qmp": QEMU's main loop is hung: "/run/vm2.qmp" sent its greeting but did not answer qmp_capabilities within 5 s\n`,
    );
  });

  await t.step("a pipe or a control character in a name cannot break the line", () => {
    const hostile = { ...ok, message: "a|b\x1b[2J" };
    assert.equal(
      renderHealthText([hostile], false),
      "YANK OK - a/b\\x1b[2J | latency=0.0008s instances=3\n",
    );
  });
});
