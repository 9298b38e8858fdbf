/**
 * The counters of the watch textfile (lib/health/counters.ts) and the file that carries them
 * (lib/health/gauge_textfile.ts): declared names, zeros from the start, monotonic across a
 * watchdog's reports, forgotten only with the socket, the watch's own gauges, and a file that
 * promtool accepts whatever the socket names.
 */

import assert from "node:assert/strict";
import { renderCounters, SocketCounters, WATCH_COUNTERS } from "../lib/health/counters.ts";
import { GaugeTextfile } from "../lib/health/gauge_textfile.ts";
import type { HealthReport } from "../lib/health/state.ts";

function report(socket: string, reason: HealthReport["reason"] = "ok"): HealthReport {
  return {
    socket,
    state: reason === "ok" ? "OK" : "CRITICAL",
    reason,
    message: "",
    remedy: "",
    latencySeconds: reason === "ok" ? 0.001 : undefined,
    instances: 2,
    qemuVersion: "7.2.22",
    oob: true,
  };
}

Deno.test("counters follow Prometheus' naming rules and start at 0 for every label value", async (t) => {
  await t.step("counters end in _total, the duration is in seconds", () => {
    for (const { name, type } of Object.values(WATCH_COUNTERS)) {
      assert.match(name, /^yank_[a-z_]+$/);
      if (type === "counter") assert.match(name, /_total$/);
      else assert.doesNotMatch(name, /_total$/);
    }
    assert.equal(WATCH_COUNTERS.lastRecovery.name, "yank_last_recovery_duration_seconds");
  });

  await t.step("one socket's counters render as literal text", () => {
    const counters = new SocketCounters();
    counters.add("hangs");
    counters.add("hangs");
    counters.add("recoveries");
    counters.add("yanked", { type: "block-node", reason: "dead-peer" });
    counters.set("lastRecovery", 1.25);
    const text = renderCounters([["/run/yank/vm1.qmp", counters]]).join("\n");
    const samples = text.split("\n").filter((l) => !l.startsWith("#"));
    assert.deepEqual(samples.slice(0, 2), [
      'yank_hangs_total{socket="/run/yank/vm1.qmp"} 2',
      'yank_recoveries_total{socket="/run/yank/vm1.qmp"} 1',
    ]);
    // Every type and reason, least harm first, from 0: increase() sees the first yank.
    const yanked = samples.filter((l) => l.startsWith("yank_instances_yanked_total{"));
    assert.equal(yanked.length, 3 * 4);
    assert.equal(
      yanked[0],
      'yank_instances_yanked_total{socket="/run/yank/vm1.qmp",type="migration",reason="dead-peer"} 0',
    );
    assert.ok(
      yanked.includes(
        'yank_instances_yanked_total{socket="/run/yank/vm1.qmp",type="block-node",reason="dead-peer"} 1',
      ),
    );
    assert.equal(yanked.filter((l) => l.endsWith(" 0")).length, 11);
    assert.equal(
      samples.at(-1),
      'yank_last_recovery_duration_seconds{socket="/run/yank/vm1.qmp"} 1.25',
    );
    assert.match(text, /^# TYPE yank_hangs_total counter$/m);
    assert.match(text, /^# TYPE yank_last_recovery_duration_seconds gauge$/m);
  });

  await t.step("a gauge never set is left out, as an unmeasured latency is", () => {
    const text = renderCounters([["/s", new SocketCounters()]]).join("\n");
    assert.doesNotMatch(text, /^yank_last_recovery_duration_seconds\{/m);
    assert.match(text, /^yank_hangs_total\{socket="\/s"\} 0$/m);
  });

  await t.step("labels are checked by the type checker", () => {
    const counters = new SocketCounters();
    // @ts-expect-error: yanked needs its type and reason.
    assert.throws(() => counters.add("yanked").toString());
    // @ts-expect-error: hangs has no labels.
    counters.add("hangs", { type: "chardev" });
    assert.equal(counters.value("hangs"), 1);
  });
});

Deno.test("the watch textfile keeps each socket's counters until the socket leaves it", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/yank.prom`;
  const file = new GaugeTextfile(path, { minGapMs: 5, onError: (e) => assert.fail(e.message) });
  const read = async () => {
    await file.flush();
    return await Deno.readTextFile(path);
  };
  try {
    await t.step("a socket's first report writes its counters at 0", async () => {
      file.start();
      file.set(report("/run/yank/vm1.qmp"), true);
      const text = await read();
      assert.match(text, /^yank_hangs_total\{socket="\/run\/yank\/vm1\.qmp"\} 0$/m);
      assert.match(text, /^yank_hung\{socket="\/run\/yank\/vm1\.qmp"\} 0$/m);
      assert.match(text, new RegExp(`^yank_watch_up\\{textfile="${path}"\\} 1$`, "m"));
    });

    await t.step("a count is written without waiting for the next report", async () => {
      file.counters("/run/yank/vm1.qmp").add("hangs");
      file.set(report("/run/yank/vm1.qmp", "hung"), true);
      const text = await read();
      assert.match(text, /^yank_hangs_total\{socket="\/run\/yank\/vm1\.qmp"\} 1$/m);
      assert.match(text, /^yank_hung\{socket="\/run\/yank\/vm1\.qmp"\} 1$/m);
      // check's gauges are unchanged by the counters.
      assert.match(text, /^yank_state\{socket="\/run\/yank\/vm1\.qmp"\} 2$/m);
    });

    await t.step("reports of a VM that went and came back keep its counts", async () => {
      file.set({ ...report("/run/yank/vm1.qmp"), state: "UNKNOWN", reason: "no-socket" }, false);
      file.set(report("/run/yank/vm1.qmp"), true);
      assert.equal(file.counters("/run/yank/vm1.qmp").value("hangs"), 1);
      assert.match(await read(), /^yank_hangs_total\{socket="\/run\/yank\/vm1\.qmp"\} 1$/m);
    });

    await t.step("deleting the socket forgets its counts", async () => {
      file.delete("/run/yank/vm1.qmp");
      assert.doesNotMatch(await read(), /vm1/);
      assert.equal(file.counters("/run/yank/vm1.qmp").value("hangs"), 0);
      file.delete("/run/yank/vm1.qmp");
    });

    await t.step("close() says the watch stopped, for every monitor", async () => {
      // A monitor whose watchdog ended long before (unwatchable) reads stopped too.
      file.set({ ...report("/run/yank/pve.qmp"), state: "WARNING", reason: "no-oob" }, false);
      await file.close();
      const text = await Deno.readTextFile(path);
      assert.match(text, new RegExp(`^yank_watch_up\\{textfile="${path}"\\} 0$`, "m"));
      assert.match(text, /^yank_state\{socket="\/run\/yank\/pve\.qmp"\} 3$/m);
      assert.match(text, /^yank_up\{socket="\/run\/yank\/pve\.qmp"\} 0$/m);
    });
  } finally {
    await file.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the heartbeat rewrites the textfile while no VM reports, and stops at close()", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/yank.prom`;
  let writes = 0;
  const file = new GaugeTextfile(path, { minGapMs: 1, heartbeatMs: 30, onError: () => {} });
  try {
    file.start();
    const seen = new Set<number>();
    for (let i = 0; i < 100 && seen.size < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const mtime = (await Deno.stat(path).catch(() => undefined))?.mtime?.getTime();
      if (mtime !== undefined) seen.add(mtime);
    }
    assert.ok(seen.size >= 3, `${seen.size} distinct mtimes`);
    await file.close();
    const closed = (await Deno.stat(path)).mtime?.getTime();
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal((await Deno.stat(path)).mtime?.getTime(), closed);
    writes = seen.size;
  } finally {
    await file.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(writes >= 3);
});

Deno.test("promtool check metrics accepts the watch textfile, whatever the socket names", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/yank.prom`;
  const file = new GaugeTextfile(path, { minGapMs: 1, onError: (e) => assert.fail(e.message) });
  try {
    file.start();
    for (const socket of ['/run/yank/"q".qmp', "/run/yank/a b%+.qmp", "/run/yank/vm\\ü.qmp"]) {
      file.set(report(socket), true);
      file.counters(socket).add("yanked", { type: "chardev", reason: "proxy-client" });
      file.counters(socket).set("lastRecovery", 2.5);
    }
    file.set(report("/run/yank/hung.qmp", "hung"), true);
    await file.close();
    const check = await new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = check.stdin.getWriter();
    await writer.write(await Deno.readFile(path));
    await writer.close();
    const output = await check.output();
    const decoder = new TextDecoder();
    assert.equal(
      output.code,
      0,
      `${decoder.decode(output.stdout)}${decoder.decode(output.stderr)}`,
    );
    assert.equal(decoder.decode(output.stdout) + decoder.decode(output.stderr), "");
  } finally {
    await file.close();
    await Deno.remove(dir, { recursive: true });
  }
});
