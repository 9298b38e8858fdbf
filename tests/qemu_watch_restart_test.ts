/**
 * A watch never gives up a VM: an unexpected failure inside its watchdog is logged once, the
 * watchdog starts again with backoff, and it still recovers the VM from a real hang afterwards.
 * The failure is injected through the probe seam; the hang is real QEMU 7.2 on a frozen qemu-nbd.
 */

import assert from "node:assert/strict";
import { eventually, hungMainLoop, QemuLab } from "./support/qemu_lab.ts";
import { WatchSupervisor } from "../lib/watch/supervisor.ts";
import { GaugeTextfile } from "../lib/health/gauge_textfile.ts";
import type { HealthReport } from "../lib/health/state.ts";
import type { QmpClient } from "../lib/qmp/client.ts";

Deno.test("a one-socket watch whose watchdog fails unexpectedly restarts it and still recovers a hang", async () => {
  await using lab = await QemuLab.create();
  const lines: string[] = [];
  const reports: HealthReport[] = [];
  const stop = new AbortController();
  let probes = 0;
  const probe = (client: QmpClient) => {
    // The second probe fails as nobody foresaw: a bug, not QEMU's doing.
    if (++probes === 2) throw new TypeError("injected failure");
    return client.execute("query-status", undefined, { timeoutMs: Infinity });
  };
  const textfile = new GaugeTextfile(lab.path("yank.prom"), { minGapMs: 10, onError: () => {} });
  const set = textfile.set.bind(textfile);
  textfile.set = (report, watching) => {
    reports.push(report);
    set(report, watching);
  };
  let run: Promise<void> | undefined;
  let socket: string | undefined;
  let ended: unknown = "running";
  const seen = (pattern: RegExp) => eventually(() => lines.some((l) => pattern.test(l)), 10_000);
  try {
    const { hang } = await hungMainLoop(lab, {
      beforeHang: async (qemu) => {
        socket = qemu.extraSockets[0]!;
        textfile.counters(socket).add("yanked", { type: "chardev", reason: "proxy-client" });
        const supervisor = new WatchSupervisor({
          patterns: [qemu.extraSockets[0]!],
          watchdog: {
            selectors: { chardev: [], blockNode: ["nbd0"], migration: false },
            intervalMs: 100,
            hangAfterMs: 1000,
            timeoutMs: 2000,
            dryRun: false,
            log: (line) => lines.push(line),
            now: Date.now,
            probe,
          },
          textfile,
          signal: stop.signal,
        });
        assert.equal(supervisor.single, true);
        run = supervisor.run();
        run.then(() => ended = "resolved", (error) => ended = error);
        assert.ok(await seen(/state=restarting .*injected failure/), lines.join("\n"));
        const restarted = lines.findIndex((l) => /state=restarting/.test(l));
        assert.ok(
          await eventually(() => lines.slice(restarted).some((l) => /state=connected/.test(l))),
          lines.join("\n"),
        );
      },
    });
    await hang;
    assert.ok(await seen(/state=recovered/), lines.join("\n"));
    // The counts of the watchdog before its restart (here one made up, as it counted none) and
    // after it are one series.
    const counters = textfile.counters(socket!);
    assert.equal(counters.value("yanked", { type: "chardev", reason: "proxy-client" }), 1);
    assert.ok(
      await eventually(() => counters.value("recoveries") === 1),
      `${counters.value("recoveries")}`,
    );
    assert.equal(counters.value("hangs"), 1);
    assert.equal(counters.value("yanked", { type: "block-node", reason: "dead-peer" }), 1);
    assert.equal(ended, "running", "the watch is still running");
    // Logged once, with its message; the textfile said what happened meanwhile.
    assert.equal(lines.filter((l) => /injected failure/.test(l)).length, 1, lines.join("\n"));
    const failed = reports.find((r) => r.reason === "error")!;
    assert.equal(failed.state, "WARNING");
    assert.match(failed.message, /injected failure/);
    assert.ok(lines.some((l) => /state=yanking .*block-node \\"nbd0\\"/.test(l)), lines.join("\n"));
  } finally {
    stop.abort();
    await run?.catch(() => {});
  }
  assert.equal(ended, "resolved");
});
