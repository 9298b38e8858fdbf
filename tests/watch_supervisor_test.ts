/**
 * The watch supervisor (lib/watch/supervisor.ts) without QEMU: the textfile shared by many
 * watchdogs, and a VM that vanishes and comes back.
 */

import assert from "node:assert/strict";
import { GaugeTextfile } from "../lib/health/gauge_textfile.ts";
import { WatchSupervisor } from "../lib/watch/supervisor.ts";
import type { HealthReport } from "../lib/health/state.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";
import { eventually } from "./support/qemu_lab.ts";

function report(socket: string, state: HealthReport["state"], latency?: number): HealthReport {
  return {
    socket,
    state,
    reason: state === "OK" ? "ok" : "lost",
    message: "",
    remedy: "",
    latencySeconds: latency,
    instances: undefined,
    qemuVersion: undefined,
    oob: undefined,
  };
}

Deno.test("the watch textfile holds every monitor's latest report, sorted, each with its own running flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/yank.prom`;
    const errors: string[] = [];
    const file = new GaugeTextfile(path, { minGapMs: 50, onError: (e) => errors.push(e.message) });
    for (let i = 0; i < 100; i++) file.set(report("/run/yank/b.qmp", "OK", i / 1000), true);
    file.set(report("/run/yank/a.qmp", "CRITICAL"), true);
    file.set(report("/run/yank/c.qmp", "UNKNOWN"), false);
    await file.flush();
    const text = await Deno.readTextFile(path);
    const ups = text.split("\n").filter((l) => l.startsWith("yank_up{"));
    assert.deepEqual(ups, [
      'yank_up{socket="/run/yank/a.qmp"} 0',
      'yank_up{socket="/run/yank/b.qmp"} 1',
      'yank_up{socket="/run/yank/c.qmp"} 0',
    ]);
    assert.match(text, /^yank_main_loop_latency_seconds\{socket="\/run\/yank\/b\.qmp"\} 0\.099$/m);
    assert.match(text, /^yank_watch_running\{socket="\/run\/yank\/c\.qmp"\} 0$/m);
    assert.match(text, /^yank_watch_running\{socket="\/run\/yank\/a\.qmp"\} 1$/m);
    file.delete("/run/yank/c.qmp");
    await file.flush();
    assert.doesNotMatch(await Deno.readTextFile(path), /c\.qmp/);
    assert.deepEqual(errors, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a VM that vanishes and comes back within the file's 10 minutes keeps its counts", async () => {
  await using fake = await startFakeQmp();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/yank.prom`;
  const textfile = new GaugeTextfile(path, { minGapMs: 5, onError: () => {} });
  const stop = new AbortController();
  let present = true;
  const supervisor = new WatchSupervisor({
    patterns: [`${dir}/*.qmp`],
    watchdog: {
      selectors: { chardev: [], blockNode: [], migration: false },
      intervalMs: 20,
      hangAfterMs: 1000,
      timeoutMs: 1000,
      dryRun: false,
      log: () => {},
      now: Date.now,
    },
    textfile,
    signal: stop.signal,
    discoveryIntervalMs: 20,
    findSockets: () => present ? [fake.path] : [],
  });
  const run = supervisor.run();
  const series = (name: string) => new RegExp(`^${name}\\{socket="${fake.path}"\\} (\\S+)$`, "m");
  const read = () => Deno.readTextFile(path).catch(() => "");
  const reads = async (name: string, value: string) =>
    series(name).exec(await read())?.[1] === value;
  try {
    assert.ok(await eventually(() => reads("yank_up", "1")));
    textfile.counters(fake.path).add("hangs");
    present = false;
    assert.ok(await eventually(() => reads("yank_watch_running", "0")));
    assert.ok(await reads("yank_hangs_total", "1"), await read());
    present = true;
    assert.ok(await eventually(() => reads("yank_watch_running", "1")));
    assert.ok(await eventually(() => reads("yank_up", "1")));
    assert.ok(await reads("yank_hangs_total", "1"), await read());
  } finally {
    stop.abort();
    await run;
    await Deno.remove(dir, { recursive: true });
  }
});
