/**
 * `yank check` against real QEMU 7.2, one test per row of the state table; a tiny fake monitor
 * stands in only where QEMU cannot show the state (no OOB, no yank, a cut connection).
 *
 * Most runs call `main()` in-process; a real process shows each exit code (0 to 3) and that
 * --textfile may write.
 */

import assert from "node:assert/strict";
import { runCli, runMain, TIMEOUT_ALLOWANCE_MS } from "./support/cli.ts";
import { hungMainLoop, installedQemuVersion, QemuLab } from "./support/qemu_lab.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";

const OK_LINE =
  /^YANK OK - main loop answered in \d+(\.\d)? ms, 1 yank instance \| latency=[\d.]+s instances=1\n$/;

Deno.test("check says OK when the main loop answers, in every format", async (t) => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();

  await t.step("text: one Monitoring Plugins line with perfdata, exit 0", async () => {
    const run = await runCli(["check", "--socket", qemu.socket]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.match(run.stdout, OK_LINE);
  });

  await t.step("json: one object with the same facts", async () => {
    const run = await runMain(["check", "--socket", qemu.socket, "--format", "json"]);
    assert.equal(run.code, 0);
    const report = JSON.parse(run.stdout);
    assert.equal(report.state, "OK");
    assert.equal(report.exit_code, 0);
    assert.equal(report.socket, qemu.socket);
    assert.equal(report.instances, 1);
    assert.equal(report.oob, true);
    assert.equal(report.qemu_version, await installedQemuVersion());
    // Seconds, and never more than --timeout (5 s by default).
    assert.ok(report.latency_seconds > 0 && report.latency_seconds <= 5);
  });

  await t.step("prometheus: gauges labelled by socket", async () => {
    const run = await runMain(["check", "--socket", qemu.socket, "--format", "prometheus"]);
    assert.equal(run.code, 0);
    const label = `{socket="${qemu.socket}"}`;
    assert.ok(run.stdout.includes(`# TYPE yank_up gauge\nyank_up${label} 1\n`), run.stdout);
    assert.ok(run.stdout.includes(`yank_state${label} 0\n`));
    assert.ok(run.stdout.includes(`yank_instances${label} 1\n`));
    assert.match(run.stdout, /^yank_main_loop_latency_seconds\{socket="[^"]+"\} [\d.e-]+$/m);
  });

  await t.step("--textfile writes the metrics atomically and prints nothing", async () => {
    const textfile = lab.path("yank.prom");
    const run = await runCli(["check", "--socket", qemu.socket, "--textfile", textfile]);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr, "");
    const metrics = await Deno.readTextFile(textfile);
    assert.ok(metrics.includes(`yank_up{socket="${qemu.socket}"} 1\n`));
    const leftovers = [...Deno.readDirSync(lab.dir)].filter((e) => e.name.endsWith(".tmp"));
    assert.deepEqual(leftovers, []);
  });

  await t.step("an unwritable --textfile is UNKNOWN, one status line on stdout", async () => {
    const textfile = lab.path("no/such/dir/yank.prom");
    const run = await runMain(["check", "--socket", qemu.socket, "--textfile", textfile]);
    assert.equal(run.code, 3);
    assert.equal(run.stderr, "");
    assert.match(run.stdout, /^YANK UNKNOWN - Cannot write the textfile "[^"]+yank\.prom": .+\n$/);
  });

  await t.step("--textfile /dev/stdout: one line without Deno's permission text", async () => {
    const run = await runCli(["check", "--socket", qemu.socket, "--textfile", "/dev/stdout"]);
    assert.equal(run.code, 3);
    assert.equal(run.stderr, "");
    assert.equal(
      run.stdout,
      `YANK UNKNOWN - Cannot write the textfile "/dev/stdout": yank writes regular files only, not devices or files in /dev, /proc or /sys (give a file path; to print the metrics, use --format prometheus without --textfile)\n`,
    );
    assert.doesNotMatch(run.stdout, /allow-all|NotCapable/);
  });
});

Deno.test("check says CRITICAL when there is no socket or nothing listens", async (t) => {
  await using lab = await QemuLab.create();

  await t.step("no socket file", async () => {
    const socket = lab.path("absent.qmp");
    const run = await runCli(["check", "--socket", socket]);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, "");
    assert.equal(
      run.stdout,
      `YANK CRITICAL - Cannot connect to "${socket}": no such file | latency=U instances=U\n`,
    );
  });

  await t.step("a stale socket left by a QEMU that crashed: connection refused", async () => {
    const qemu = await lab.startQemu();
    await qemu.process.kill();
    assert.ok(Deno.statSync(qemu.socket).isSocket, "SIGKILL leaves the socket file behind");
    const run = await runMain(["check", "--socket", qemu.socket]);
    assert.equal(run.code, 2);
    assert.equal(
      run.stdout,
      `YANK CRITICAL - Cannot connect to "${qemu.socket}": connection refused | latency=U instances=U\n`,
    );
  });
});

Deno.test("check says CRITICAL within --timeout when the main loop is hung", async () => {
  await using lab = await QemuLab.create();
  const { qemu } = await hungMainLoop(lab);
  const run = await runMain(["check", "--socket", qemu.socket, "--timeout", "1"]);
  assert.equal(run.code, 2);
  assert.equal(run.stderr, "");
  assert.equal(
    run.stdout,
    `YANK CRITICAL - QEMU's main loop is hung: "${qemu.socket}" sent its greeting but did not answer qmp_capabilities within 1 s | latency=U instances=U\n`,
  );
  assert.ok(run.elapsedMs < 1000 + TIMEOUT_ALLOWANCE_MS, `took ${run.elapsedMs} ms`);
});

Deno.test("check says CRITICAL when the connection is lost mid-probe", async () => {
  await using fake = await startFakeQmp({
    reply: (command) => command.name === "query-status" ? { close: true } : undefined,
  });
  const run = await runMain(["check", "--socket", fake.path]);
  assert.equal(run.code, 2);
  assert.equal(
    run.stdout,
    `YANK CRITICAL - Connection to "${fake.path}" was lost while waiting for the reply to query-status | latency=U instances=U\n`,
  );
});

Deno.test("check says WARNING within --timeout when another client holds the monitor", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  await lab.qmp(qemu.socket);
  const run = await runMain(["check", "--socket", qemu.socket, "--timeout", "1"]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, "");
  assert.equal(
    run.stdout,
    `YANK WARNING - The monitor "${qemu.socket}" is busy or QEMU is still starting: connected, but no QMP greeting within 1 s | latency=U instances=U\n`,
  );
  assert.ok(run.elapsedMs < 1000 + TIMEOUT_ALLOWANCE_MS, `took ${run.elapsedMs} ms`);
});

Deno.test("check says WARNING for a monitor without OOB and for a QEMU without yank", async (t) => {
  await using noOob = await startFakeQmp({
    capabilities: [],
    instances: [{ type: "chardev", id: "compat_monitor0" }],
  });
  await using noYank = await startFakeQmp({
    version: { major: 5, minor: 2, micro: 0 },
    reply: (command) =>
      command.name === "query-yank"
        ? { error: { class: "CommandNotFound", desc: "The command query-yank has not been found" } }
        : undefined,
  });
  {
    await t.step("no OOB: yank could not get through a hang", async () => {
      const run = await runCli(["check", "--socket", noOob.path]);
      assert.equal(run.code, 1);
      assert.equal(run.stderr, "");
      assert.match(
        run.stdout,
        /^YANK WARNING - main loop answered in [\d.]+ ms, 1 yank instance, but "[^"]+" does not offer out-of-band execution \(oob\), so yank cannot get through a hang \| latency=[\d.]+s instances=1\n$/,
      );
      assert.deepEqual(noOob.commandNames, ["qmp_capabilities", "query-status", "query-yank"]);
    });

    await t.step("no yank: QEMU older than 6.0", async () => {
      const run = await runMain(["check", "--socket", noYank.path, "--format", "json"]);
      assert.equal(run.code, 1);
      const report = JSON.parse(run.stdout);
      assert.equal(report.state, "WARNING");
      assert.equal(report.reason, "no-yank");
      assert.equal(report.instances, null);
      assert.match(
        report.message,
        /^main loop answered in .+, but QEMU 5\.2\.0 at .+ does not support yank$/,
      );
      assert.equal(report.remedy, "it needs QEMU 6.0 or newer; upgrade QEMU");
    });
  }
});

Deno.test("check exits 3 UNKNOWN on usage errors, as a status line on stdout", async (t) => {
  // Monitoring Plugins read stdout: a line on stderr alone shows up as "(no output)".
  for (
    const [args, reason] of [
      [["check", "--socket", "/x.qmp", "--timeout", "abc"], /--timeout takes seconds/],
      [["check", "--socket", "/x.qmp", "--format", "xml"], /--format takes text, json or/],
      [["check", "--socket", "/x.qmp", "--no-such-option"], /Unknown option "--no-such-option"/],
      [["check"], /No socket given/],
      [["check", "--socket", "/x.qmp", "--block-node", "nbd0"], /does not take --block-node/],
      [["check", "-s"], /--socket \(-s\) needs a value/],
    ] as const
  ) {
    await t.step(args.join(" "), async () => {
      const run = await runMain([...args], { YANK_SOCKET: "" });
      assert.equal(run.code, 3);
      assert.match(run.stdout, /^YANK UNKNOWN - [^\n]+\n$/);
      assert.match(run.stdout, reason);
      // Not twice on a terminal or in a plugin runner that merges the two streams.
      assert.equal(run.stderr, "");
    });
  }
  await t.step("as a process: check --format xml", async () => {
    const run = await runCli(["check", "--socket", "/x.qmp", "--format", "xml"]);
    assert.equal(run.code, 3);
    assert.match(
      run.stdout,
      /^YANK UNKNOWN - --format takes text, json or prometheus, got "xml"\n$/,
    );
    assert.equal(run.stderr, "");
  });
});

Deno.test("check of several sockets: the worst state wins, a summary line comes first", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  const absent = lab.path("absent.qmp");
  const run = await runMain(["check", "--socket", qemu.socket, "--socket", absent]);
  assert.equal(run.code, 2);
  const lines = run.stdout.trimEnd().split("\n");
  assert.equal(
    lines[0],
    "YANK CRITICAL - 2 sockets: 1 CRITICAL, 0 WARNING, 0 UNKNOWN, 1 OK | critical=1 warning=0 unknown=0 ok=1",
  );
  assert.match(lines[1]!, /^OK "[^"]+vm1\.qmp": main loop answered in/);
  assert.equal(lines[2], `CRITICAL "${absent}": Cannot connect to "${absent}": no such file`);
  assert.equal(lines.length, 3);
});
