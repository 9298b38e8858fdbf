/**
 * One `yank watch` over several real QEMUs (7.2): only the hung VM is yanked and recovers while
 * the others keep answering; a VM started later is picked up, gets its proxy, and its hang is
 * recovered; a killed VM reads yank_up 0 while the others stay up; SIGTERM exits 0 and removes
 * every proxy socket.
 */

import assert from "node:assert/strict";
import { runCli, type SpawnedCli } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import { addNbdNode, eventually, type Qemu, QemuLab, readInMainLoop } from "./support/qemu_lab.ts";
import type { QmpClient } from "../lib/qmp/client.ts";

/** A QEMU whose watched monitor is `<name>N-extra1.qmp`, with an NBD node to hang it by. */
async function vmWithNbd(lab: QemuLab): Promise<{
  qemu: Qemu;
  hang: () => Promise<unknown>;
  thaw: () => void;
}> {
  const qemu = await lab.startQemu({ monitors: 3 });
  const nbd = await lab.startNbd();
  const setup: QmpClient = await lab.qmp(qemu.extraSockets[1]!);
  await addNbdNode(setup, nbd);
  return {
    qemu,
    hang: () => nbd.process.freeze().then(() => readInMainLoop(setup, "nbd0")),
    thaw: () => nbd.process.thaw(),
  };
}

function gauge(text: string, name: string, socket: string): string | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{socket="${socket}"} `));
  return line?.split(" ")[1];
}

function watchedSockets(text: string): string[] {
  return [...text.matchAll(/^yank_up\{socket="([^"]+)"\}/gm)].map((m) => m[1]!);
}

Deno.test("one watch over several QEMUs: only the hung one is yanked, the others keep answering", async (t) => {
  await using lab = await QemuLab.create();
  const proxies = lab.path("proxy");
  await Deno.mkdir(proxies);
  const textfile = lab.path("yank.prom");
  const a = await vmWithNbd(lab);
  const b = await vmWithNbd(lab);
  const peer = lab.tcpPeer();
  const c = await lab.startQemu({
    monitors: 2,
    args: ["-chardev", `socket,id=charnet0,host=127.0.0.1,port=${peer.port},server=off`],
  });
  const read = () => Deno.readTextFile(textfile).catch(() => "");
  let watch: SpawnedCli | undefined;
  try {
    watch = await startWatch({
      socket: `${lab.dir}/*-extra1.qmp`,
      blockNode: "nbd0",
      hangAfter: 1,
      timeout: 2,
      listenDir: proxies,
      textfile,
    }, { until: null });
    const sockets = [a.qemu, b.qemu, c].map((q) => q.extraSockets[0]!);
    for (const socket of sockets) {
      await watch.waitForLine(new RegExp(`socket=${socket} state=connected`));
    }

    await t.step(
      "each VM gets its proxy in --listen-dir and its series in the textfile",
      async () => {
        const listed = [...Deno.readDirSync(proxies)].map((e) => e.name).sort();
        assert.deepEqual(listed, sockets.map((s) => s.slice(s.lastIndexOf("/") + 1)).sort());
        assert.ok(
          await eventually(async () => watchedSockets(await read()).length === 3),
          await read(),
        );
        const text = await read();
        for (const socket of sockets) assert.equal(gauge(text, "yank_up", socket), "1", text);
      },
    );

    await t.step("a hang of one VM is yanked on that VM only and recovered", async () => {
      const hang = a.hang();
      await hang;
      await watch!.waitForLine(/state=recovered/);
      const yanks = watch!.lines.filter((l) => /state=yanking/.test(l));
      assert.equal(yanks.length, 1, watch!.lines.join("\n"));
      assert.match(yanks[0]!, new RegExp(`socket=${sockets[0]} .*block-node \\\\"nbd0\\\\"`));
      // Each VM's watchdog learnt its own peers: the frozen server was judged dead on a's.
      assert.match(yanks[0]!, /\(peer judged dead\)/);
      assert.ok(
        watch!.lines.some((l) =>
          l.includes(`socket=${sockets[0]} state=judged`) && /judged dead/.test(l)
        ),
        watch!.lines.join("\n"),
      );
      assert.ok(
        !watch!.lines.some((l) =>
          /state=(hung|disconnected)/.test(l) &&
          !l.includes(sockets[0]!)
        ),
        watch!.lines.join("\n"),
      );
    });

    await t.step("while one VM stays hung, the others' probes go on", async () => {
      // --dry-run is not set, so hang b and watch the others' latencies change meanwhile.
      const before = await read();
      const hang = b.hang();
      await watch!.waitForLine(new RegExp(`socket=${sockets[1]} state=hung`));
      // The hang began --hang-after (1 s) ago; the others were probed every 0.2 s meanwhile.
      const during = await read();
      for (const socket of [sockets[0]!, sockets[2]!]) {
        assert.equal(gauge(during, "yank_up", socket), "1", during);
        assert.notEqual(
          gauge(during, "yank_main_loop_latency_seconds", socket),
          gauge(before, "yank_main_loop_latency_seconds", socket),
          "a fresh probe answered",
        );
      }
      await hang;
      await eventually(() => watch!.lines.filter((l) => /state=recovered/.test(l)).length === 2);
    });

    await t.step("a yank through a VM's proxy is logged with what it yanked", async () => {
      const proxy = `${proxies}/${sockets[2]!.slice(sockets[2]!.lastIndexOf("/") + 1)}`;
      // The proxy refuses every monitor's chardev, so yank the VM's TCP chardev.
      const yank = await runCli([
        "chardev",
        "charnet0",
        "--socket",
        proxy,
        "--timeout",
        "2",
      ]);
      assert.equal(yank.code, 0, yank.stderr);
      await watch!.waitForLine(
        new RegExp(
          `socket=${
            sockets[2]
          } state=proxy-yank .*msg="proxy client \\d+ yanked chardev \\\\"charnet0\\\\""`,
        ),
      );
    });

    await t.step(
      "SIGTERM: exit 0, every proxy socket removed, every VM reads unwatched",
      async () => {
        const result = await watch!.stop("SIGTERM");
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "");
        assert.deepEqual([...Deno.readDirSync(proxies)], []);
        const text = await read();
        for (const socket of sockets) {
          assert.equal(gauge(text, "yank_watch_running", socket), "0", text);
          assert.equal(gauge(text, "yank_up", socket), "0", text);
        }
      },
    );
  } finally {
    a.thaw();
    b.thaw();
    await watch?.stop("SIGKILL");
  }
});

Deno.test("a VM started after watch is picked up with its proxy; a killed VM reads yank_up 0", async (t) => {
  await using lab = await QemuLab.create();
  const proxies = lab.path("proxy");
  await Deno.mkdir(proxies);
  const textfile = lab.path("yank.prom");
  const first = await lab.startQemu({ monitors: 2 });
  const read = () => Deno.readTextFile(textfile).catch(() => "");
  let late: Awaited<ReturnType<typeof vmWithNbd>> | undefined;
  const firstSocket = first.extraSockets[0]!;
  const watch = await startWatch({
    // The glob also matches the proxies if they were beside the monitors: never watch those.
    socket: [`${lab.dir}/*-extra1.qmp`, `${proxies}/*.qmp`],
    blockNode: "nbd0",
    hangAfter: 1,
    timeout: 1,
    listenDir: proxies,
    textfile,
  }, { until: new RegExp(`socket=${firstSocket} state=connected`) });
  try {
    late = await vmWithNbd(lab);
    const lateSocket = late.qemu.extraSockets[0]!;
    const lateProxy = `${proxies}/${lateSocket.slice(lateSocket.lastIndexOf("/") + 1)}`;

    await t.step("the new VM is found, connected and gets its proxy", async () => {
      const found = await watch.waitForLine(new RegExp(`socket=${lateSocket} state=found`));
      assert.match(found, new RegExp(`proxy at \\\\"${lateProxy}\\\\"`));
      await watch.waitForLine(new RegExp(`socket=${lateSocket} state=connected`));
      const list = await runCli(["list", "--socket", lateProxy, "--timeout", "2"]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^block-node +nbd0 +- +-$/m);
    });

    await t.step("its hang is recovered", async () => {
      await late!.hang();
      await watch.waitForLine(new RegExp(`socket=${lateSocket} state=recovered`));
    });

    await t.step("a killed VM reads yank_up 0 while the other stays up", async () => {
      await first.process.kill();
      await watch.waitForLine(new RegExp(`socket=${firstSocket} state=disconnected`));
      // Within --interval + --timeout of the kill, and without waiting for anything else.
      assert.ok(
        await eventually(async () => gauge(await read(), "yank_up", firstSocket) === "0", 1200),
        await read(),
      );
      const text = await read();
      assert.notEqual(gauge(text, "yank_state", firstSocket), "0", text);
      assert.equal(gauge(text, "yank_up", lateSocket), "1", text);
      assert.equal(gauge(text, "yank_watch_running", firstSocket), "1", text);
    });

    await t.step("a VM whose socket goes away is dropped, and so is its proxy", async () => {
      await Deno.remove(firstSocket);
      await watch.waitForLine(new RegExp(`socket=${firstSocket} state=gone`));
      const firstProxy = `${proxies}/${firstSocket.slice(firstSocket.lastIndexOf("/") + 1)}`;
      assert.throws(() => Deno.statSync(firstProxy));
      assert.ok(Deno.statSync(lateProxy).isSocket);
      // The textfile is rewritten at most every --interval: wait for the next write.
      assert.ok(
        await eventually(
          async () => gauge(await read(), "yank_watch_running", firstSocket) === "0",
          2000,
        ),
        await read(),
      );
      const text = await read();
      assert.equal(gauge(text, "yank_up", firstSocket), "0", text);
      assert.equal(gauge(text, "yank_state", firstSocket), "3", text);
    });

    await t.step("no proxy was ever watched", () => {
      assert.ok(!watch.lines.some((l) => l.includes(`socket=${proxies}/`)), watch.lines.join("\n"));
    });

    const result = await watch.stop("SIGTERM");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual([...Deno.readDirSync(proxies)], []);
  } finally {
    late?.thaw();
    await watch.stop("SIGKILL");
  }
});

Deno.test("watch pointed at a yank proxy stops at once with one line and exit 6", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  const proxy = lab.path("proxy.qmp");
  const upstream = await startWatch({ socket: qemu.socket, interval: null, listen: proxy });
  try {
    const run = await runCli(["watch", "--socket", proxy, "--timeout", "2"], {
      killAfterMs: 20_000,
    });
    assert.equal(run.code, 6, run.stderr);
    assert.equal(run.stdout, "");
    const lines = run.stderr.trimEnd().split("\n");
    assert.ok(lines.length <= 2, run.stderr);
    assert.match(
      lines.at(-1)!,
      /^yank: "[^"]+proxy\.qmp" refused query-status \(CommandNotFound\), so yank watch cannot tell whether QEMU's main loop answers: .*\(watch the QEMU monitor socket itself\)$/,
    );
  } finally {
    await upstream.stop("SIGTERM");
  }
});

Deno.test("a glob that matches a yank proxy logs it once as unwatchable and watches the rest", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu({ monitors: 2 });
  await Deno.mkdir(lab.path("p"));
  const proxy = lab.path("p/vm.qmp");
  const upstream = await startWatch({
    socket: qemu.extraSockets[0]!,
    interval: null,
    listen: proxy,
  });
  let watch: SpawnedCli | undefined;
  try {
    watch = await startWatch(
      { socket: [qemu.socket, `${lab.dir}/p/*.qmp`], interval: null },
      { until: new RegExp(`socket=${proxy} state=unwatchable .*refused query-status`) },
    );
    await watch.waitForLine(new RegExp(`socket=${qemu.socket} state=connected`));
    // Three more discovery rounds: no reconnect storm, no second line about the proxy.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const result = await watch.stop("SIGTERM");
    assert.equal(result.code, 0, result.stderr);
    const aboutProxy = result.stderr.split("\n").filter((l) => l.includes(`socket=${proxy} `));
    assert.deepEqual(aboutProxy.map((l) => /state=(\S+)/.exec(l)![1]), [
      "found",
      "connected",
      "unwatchable",
    ]);
  } finally {
    await watch?.stop("SIGKILL");
    await upstream.stop("SIGTERM");
  }
});
