import assert from "node:assert/strict";
import type { HealthReport } from "../lib/health/state.ts";
import { worstState } from "../lib/health/state.ts";
import { renderHealthText } from "../lib/health/render_text.ts";
import { renderHealthJson } from "../lib/health/render_json.ts";
import { escapeLabelValue, renderHealthPrometheus } from "../lib/health/render_prometheus.ts";
import { formatLatency, reportFailure } from "../lib/health/probe.ts";
import { QmpConnectError, QmpTimeoutError } from "../lib/qmp/errors.ts";
import { wordRemedyAction } from "../lib/cli/remedies.ts";

const ok: HealthReport = {
  socket: "/run/vm1.qmp",
  state: "OK",
  reason: "ok",
  message: "main loop answered in 0.8 ms, 3 yank instances",
  remedy: "",
  latencySeconds: 0.0008,
  instances: 3,
  qemuVersion: "7.2.22",
  oob: true,
};

const hung: HealthReport = {
  socket: "/run/vm2.qmp",
  state: "CRITICAL",
  reason: "hung",
  message:
    `QEMU's main loop is hung: "/run/vm2.qmp" sent its greeting but did not answer qmp_capabilities within 5 s`,
  remedy: `a new connection cannot yank through a hang; use "yank watch" on a second monitor`,
  latencySeconds: undefined,
  instances: undefined,
  qemuVersion: "7.2.22",
  oob: undefined,
};

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

Deno.test("the Prometheus renderer writes node_exporter textfile gauges", async (t) => {
  await t.step("HELP and TYPE per family, one sample per socket, unmeasured left out", () => {
    assert.equal(
      renderHealthPrometheus([ok, hung]),
      `# HELP yank_up Whether QEMU's main loop answered the in-band probe (1) or not (0).
# TYPE yank_up gauge
yank_up{socket="/run/vm1.qmp"} 1
yank_up{socket="/run/vm2.qmp"} 0
# HELP yank_state Monitoring Plugins state of the monitor: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
# TYPE yank_state gauge
yank_state{socket="/run/vm1.qmp"} 0
yank_state{socket="/run/vm2.qmp"} 2
# HELP yank_main_loop_latency_seconds How long QEMU's main loop took to answer query-status.
# TYPE yank_main_loop_latency_seconds gauge
yank_main_loop_latency_seconds{socket="/run/vm1.qmp"} 0.0008
# HELP yank_instances How many yank instances query-yank lists.
# TYPE yank_instances gauge
yank_instances{socket="/run/vm1.qmp"} 3
# HELP yank_oob Whether the monitor negotiated out-of-band execution, which yank needs during a hang.
# TYPE yank_oob gauge
yank_oob{socket="/run/vm1.qmp"} 1
`,
    );
  });

  await t.step("latencies are rounded to the microsecond, as in the perfdata and JSON", () => {
    const noisy = { ...ok, latencySeconds: 0.00041578699999999814 };
    const line = renderHealthPrometheus([noisy]).split("\n")
      .find((l) => l.startsWith("yank_main_loop_latency_seconds{"));
    assert.equal(line, 'yank_main_loop_latency_seconds{socket="/run/vm1.qmp"} 0.000416');
    assert.equal(JSON.parse(renderHealthJson([noisy], false)).latency_seconds, 0.000416);
    assert.match(renderHealthText([noisy], false), / \| latency=0\.000416s instances=3\n$/);
  });

  await t.step("watch's textfile adds yank_watch_running; check's output does not", () => {
    assert.doesNotMatch(renderHealthPrometheus([ok]), /yank_watch_running/);
    assert.match(
      renderHealthPrometheus([ok], { watching: true }),
      /\n# TYPE yank_watch_running gauge\nyank_watch_running\{socket="\/run\/vm1\.qmp"\} 1\n$/,
    );
    assert.match(
      renderHealthPrometheus([hung], { watching: false }),
      /\nyank_watch_running\{socket="\/run\/vm2\.qmp"\} 0\n$/,
    );
  });

  await t.step("label values escape backslash, double quote and newline", () => {
    assert.equal(escapeLabelValue('/run/a\\b"c\nd.qmp'), '/run/a\\\\b\\"c\\nd.qmp');
    const line = renderHealthPrometheus([{ ...ok, socket: '/run/"x".qmp' }])
      .split("\n").find((l) => l.startsWith("yank_up{"));
    assert.equal(line, 'yank_up{socket="/run/\\"x\\".qmp"} 1');
  });
});

Deno.test("the worst state wins as in Monitoring Plugins' max_state_alt", async (t) => {
  await t.step("CRITICAL > WARNING > UNKNOWN > OK", () => {
    assert.equal(worstState(["OK", "UNKNOWN"]), "UNKNOWN");
    assert.equal(worstState(["UNKNOWN", "WARNING", "OK"]), "WARNING");
    assert.equal(worstState(["WARNING", "CRITICAL", "UNKNOWN"]), "CRITICAL");
    assert.equal(worstState([]), "OK");
  });
});

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
