/**
 * `yank watch` against real QEMU 7.2: it recovers a hung main loop, its --listen proxy keeps
 * list and yank working during the hang (and refuses everything else), it survives a QEMU
 * restart, and it ends with 0 on SIGTERM.
 */

import assert from "node:assert/strict";
import { runCli, runMain, type SpawnedCli, TIMEOUT_ALLOWANCE_MS } from "./support/cli.ts";
import { startWatch, stopWatch } from "./support/watch.ts";
import { eventually, hungMainLoop, QemuLab } from "./support/qemu_lab.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";
import { QmpClient } from "../lib/qmp/client.ts";
import { QmpCommandError } from "../lib/qmp/errors.ts";

Deno.test("watch --block-node nbd0 recovers a hung main loop within --hang-after + a few seconds", async () => {
  await using lab = await QemuLab.create();
  let watch: SpawnedCli | undefined;
  try {
    const { qemu, hang } = await hungMainLoop(lab, {
      beforeHang: async (qemu) => {
        watch = await startWatch(
          { socket: qemu.extraSockets[0]!, blockNode: "nbd0", hangAfter: 1 },
          { until: /state=connected .*own monitor chardev \\"compat_monitor1\\"/ },
        );
      },
    });
    const hungAt = performance.now();
    await hang;
    const recoveredMs = performance.now() - hungAt;
    // hungMainLoop returns about 0.5 s into the hang, once a probe proved it.
    console.log(`hang confirmed to recovery under watch: ${recoveredMs.toFixed(0)} ms`);
    // --hang-after 1 s, then a yank; the rest allows for a loaded machine.
    assert.ok(recoveredMs < 1000 + 3000 + TIMEOUT_ALLOWANCE_MS, `took ${recoveredMs} ms`);
    await watch!.waitForLine(/state=yanking .*block-node \\"nbd0\\"/);
    await watch!.waitForLine(/state=recovered/);

    const list = await runMain(["list", "--socket", qemu.socket, "--timeout", "2"]);
    assert.equal(list.code, 0, list.stderr);
    // Still running and probing: another second of probes passes without a new state.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.match(watch!.lines.at(-1)!, /state=recovered/);
    const { stderr } = await stopWatch(watch!);
    assert.ok(!/state=hung .*state=hung/s.test(stderr), "one hang, one recovery");
  } finally {
    await watch?.stop("SIGKILL");
  }
});

Deno.test("watch --listen serves list and yank through a hang and refuses everything else", async (t) => {
  await using lab = await QemuLab.create();
  const proxy = lab.path("proxy.qmp");
  let watch: SpawnedCli | undefined;
  try {
    const { qemu, hang } = await hungMainLoop(lab, {
      beforeHang: async (qemu) => {
        watch = await startWatch({
          socket: qemu.extraSockets[0]!,
          blockNode: "nbd0",
          dryRun: true,
          hangAfter: 0.5,
          listen: proxy,
        });
      },
    });
    let recovered = false;
    hang.then(() => recovered = true);

    await t.step("the proxy socket has mode 0660", () => {
      assert.equal(Deno.statSync(proxy).mode! & 0o777, 0o660);
    });

    await t.step("--dry-run logs what it would yank and yanks nothing", async () => {
      await watch!.waitForLine(/state=would-yank .*block-node \\"nbd0\\"/);
      await watch!.waitForLine(/state=still-hung/);
      assert.equal(recovered, false);
    });

    await t.step("yank list through the proxy works during the hang", async () => {
      const run = await runMain(["list", "--socket", proxy, "--timeout", "2"]);
      assert.equal(run.stderr, "");
      assert.equal(run.code, 0);
      assert.match(run.stdout, /^block-node +nbd0 +- +-$/m);
      assert.match(
        run.stdout,
        /^chardev +compat_monitor1 +unix:\S+\/proxy\.qmp \(listening, connected\) +-$/m,
      );
    });

    await t.step("a forced yank of the watchdog's own monitor chardev is refused", async () => {
      const run = await runMain([
        "chardev",
        "compat_monitor1",
        "--force",
        "--socket",
        proxy,
        "--timeout",
        "2",
      ]);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /^yank: .*GenericError: Refusing to yank chardev "compat_monitor1"/);
    });

    await t.step("quit and other commands get CommandNotFound; QEMU stays alive", async () => {
      const client = await QmpClient.connect(proxy, { timeoutMs: 2000 });
      try {
        assert.ok(client.oob);
        for (const command of ["quit", "query-status", "human-monitor-command"]) {
          await assert.rejects(
            client.execute(command),
            (e) => e instanceof QmpCommandError && e.errorClass === "CommandNotFound",
          );
        }
        await assert.rejects(
          client.execute("quit", undefined, { oob: true }),
          (e) => e instanceof QmpCommandError && e.errorClass === "CommandNotFound",
        );
      } finally {
        client.close();
      }
      const alive = await Promise.race([
        qemu.process.status.then(() => false),
        new Promise((resolve) => setTimeout(() => resolve(true), 200)),
      ]);
      assert.equal(alive, true);
    });

    await t.step("several clients at once each get their own greeting and replies", async () => {
      const clients = await Promise.all(
        [1, 2, 3].map(() => QmpClient.connect(proxy, { timeoutMs: 2000 })),
      );
      try {
        const lists = await Promise.all(
          clients.map((c) => c.execute("query-yank", undefined, { oob: true })),
        );
        for (const list of lists) assert.equal((list as unknown[]).length, 4);
      } finally {
        for (const client of clients) client.close();
      }
    });

    await t.step("yank block-node nbd0 through the proxy ends the hang", async () => {
      const run = await runMain(["block-node", "nbd0", "--socket", proxy, "--timeout", "2"]);
      assert.equal(run.stderr, "");
      assert.equal(run.code, 0);
      assert.equal(run.stdout, "yanked block-node nbd0\n");
      assert.ok(await eventually(() => recovered, 2000));
      await watch!.waitForLine(/state=recovered/);
    });

    await t.step("SIGTERM ends watch with 0 and removes the proxy socket", async () => {
      await stopWatch(watch!);
      assert.throws(() => Deno.statSync(proxy));
    });
  } finally {
    await watch?.stop("SIGKILL");
  }
});

Deno.test("through --listen, a chardev glob spares the watchdog's own chardev and yanks the rest", async (t) => {
  await using lab = await QemuLab.create();
  const proxy = lab.path("proxy.qmp");
  // One monitor, held by watch (compat_monitor0), and charnet0 connected to a TCP peer.
  const peer = lab.tcpPeer();
  const qemu = await lab.startQemu({
    args: ["-chardev", `socket,id=charnet0,host=127.0.0.1,port=${peer.port},server=off`],
  });
  await peer.accepted;
  await using watch = await startWatch(
    { socket: qemu.socket, listen: proxy },
    { until: /state=connected .*own monitor chardev \\"compat_monitor0\\"/ },
  );
  await t.step("--dry-run plans only the other chardevs", async () => {
    const run = await runMain([
      "--chardev",
      "*",
      "--dry-run",
      "--socket",
      proxy,
      "--timeout",
      "2",
    ]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "would yank chardev charnet0\n");
  });

  await t.step("the yank goes through and cuts charnet0, not the watchdog", async () => {
    const run = await runMain(["--chardev", "*", "--socket", proxy, "--timeout", "2"]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "yanked chardev charnet0\n");
    await peer.closed;
    const list = await runMain(["list", "--socket", proxy, "--timeout", "2"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      /^chardev +compat_monitor0 +unix:\S+\/proxy\.qmp \(listening, connected\) +-$/m,
    );
    assert.ok(!watch.lines.some((l) => /state=disconnected/.test(l)), watch.lines.join("\n"));
  });

  await t.step("its exact name needs --force, like the monitor yank talks through", async () => {
    const run = await runMain([
      "chardev",
      "compat_monitor0",
      "--socket",
      proxy,
      "--timeout",
      "2",
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      /^yank: Refusing to yank chardev "compat_monitor0": it carries the monitor "[^"]+proxy\.qmp" that yank is talking through/,
    );
  });

  await stopWatch(watch);
});

Deno.test("watch --textfile reports each probe, and says on SIGTERM that nothing watches", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  const textfile = lab.path("yank.prom");
  const watch = await startWatch(
    { socket: qemu.socket, interval: 0.1, textfile },
    { until: null },
  );
  const read = () => Deno.readTextFile(textfile).catch(() => "");
  try {
    assert.ok(await eventually(async () => /^yank_up\{.*\} 1$/m.test(await read())));
    const running = await read();
    assert.match(running, /^yank_state\{.*\} 0$/m);
    assert.match(running, /^yank_watch_running\{.*\} 1$/m);
    // Rounded to the microsecond: no float noise such as 0.00041578699999999814.
    assert.match(running, /^yank_main_loop_latency_seconds\{.*\} \d+(\.\d{1,6})?$/m);

    await stopWatch(watch);
    const stopped = await read();
    assert.match(stopped, /^yank_up\{.*\} 0$/m);
    assert.match(stopped, /^yank_state\{.*\} 3$/m);
    assert.match(stopped, /^yank_watch_running\{.*\} 0$/m);
    assert.doesNotMatch(stopped, /^yank_main_loop_latency_seconds\{/m);
  } finally {
    await watch.stop("SIGKILL");
  }
});

Deno.test("watch reconnects when QEMU restarts on the same socket", async () => {
  await using lab = await QemuLab.create();
  const socket = lab.path("restart.qmp");
  const proxy = lab.path("proxy.qmp");
  await using watch = await startWatch(
    { socket, timeout: 1, listen: proxy },
    { until: /state=connecting .*no such file/ },
  );
  // While QEMU is absent the proxy answers at once with an error, rather than hanging.
  const early = await runMain(["list", "--socket", proxy, "--timeout", "20"]);
  assert.equal(early.code, 4);
  assert.match(
    early.stderr,
    /^yank: The yank proxy .* cannot reach QEMU: yank watch is not connected to QEMU at /,
  );
  // Far less than the 20 s --timeout: the answer came at once.
  assert.ok(early.elapsedMs < 10_000, `took ${early.elapsedMs} ms`);
  // The watch takes the only client slot of this monitor as soon as it can.
  const first = await lab.startQemu({ socket, awaitMainLoop: false });
  await watch.waitForLine(/state=connected/);
  await first.process.stop();
  await watch.waitForLine(/state=disconnected/);
  const before = watch.lines.length;
  await lab.startQemu({ socket, awaitMainLoop: false });
  await eventually(() => watch.lines.slice(before).some((l) => /state=connected/.test(l)), 8000);
  assert.ok(
    watch.lines.slice(before).some((l) => /state=connected/.test(l)),
    watch.lines.join("\n"),
  );
  await stopWatch(watch);
});

Deno.test("watch refuses a monitor without OOB with exit 6, and bad usage with exit 2", async (t) => {
  await using fake = await startFakeQmp({ capabilities: [] });
  {
    await t.step("no OOB: exit 6 with the reason", async () => {
      const run = await runCli(["watch", "--socket", fake.path, "--block-node", "nbd0"]);
      assert.equal(run.code, 6);
      assert.equal(run.stdout, "");
      assert.match(
        run.stderr,
        /^yank: "[^"]+qmp\.sock" does not offer out-of-band execution \(oob\), so yank watch could not yank through a hang \(.+\)\n$/,
      );
    });

    await t.step("--listen with two sockets: exit 2, pointing to --listen-dir", async () => {
      const run = await runMain([
        "watch",
        "--socket",
        fake.path,
        "--socket",
        `${fake.path}2`,
        "--listen",
        `${fake.path}.proxy`,
      ]);
      assert.equal(run.code, 2);
      assert.equal(run.stdout, "");
      assert.match(
        run.stderr,
        /^yank: --listen serves the proxy of one monitor, but --socket names several or a glob \(use --listen-dir DIR for one proxy per monitor\)\n$/,
      );
    });
  }
});
