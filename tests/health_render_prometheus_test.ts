/** The Prometheus renderer of health reports (lib/health/render_prometheus.ts). */

import assert from "node:assert/strict";
import { escapeLabelValue, renderHealthPrometheus } from "../lib/health/render_prometheus.ts";
import { renderHealthJson } from "../lib/health/render_json.ts";
import { renderHealthText } from "../lib/health/render_text.ts";
import { hung, ok } from "./support/health_reports.ts";

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
