/**
 * Many VMs against real QEMU 7.2: sockets found by globs, repeated --socket and YANK_SOCKET;
 * the SOCKET column and the "socket" key; one failed socket never hides the others' results,
 * and the exit code is the highest among the sockets.
 *
 * The runs call `main()` in-process, but for one real process that expands a glob with the
 * compiled binary's permissions.
 */

import assert from "node:assert/strict";
import { runCli, runMain, TIMEOUT_ALLOWANCE_MS } from "./support/cli.ts";
import { columnsBefore, withoutPeers } from "./support/table.ts";
import { chardevConnectedToPeer, eventually, type Qemu, QemuLab } from "./support/qemu_lab.ts";

function stderrLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line !== "");
}

/** The table `yank list` prints for QEMUs that each have compat_monitor0 and charnet0. */
function expectedTable(sockets: string[]): string {
  const width = Math.max("SOCKET".length, ...sockets.map((s) => s.length));
  const row = (socket: string, type: string, name: string) =>
    `${socket.padEnd(width)}  ${type.padEnd(7)}  ${name}\n`;
  return row("SOCKET", "TYPE", "NAME") +
    sockets.map((s) => row(s, "chardev", "compat_monitor0") + row(s, "chardev", "charnet0"))
      .join("");
}

function expectedJson(sockets: string[]): unknown[] {
  return sockets.flatMap((socket) => [
    { socket, type: "chardev", id: "compat_monitor0" },
    { socket, type: "chardev", id: "charnet0" },
  ]);
}

async function threeQemus(lab: QemuLab): Promise<Qemu[]> {
  const qemus: Qemu[] = [];
  for (let i = 0; i < 3; i++) qemus.push((await chardevConnectedToPeer(lab)).qemu);
  return qemus;
}

Deno.test("list finds many QEMUs by a glob, by repeated --socket and by YANK_SOCKET", async (t) => {
  await using lab = await QemuLab.create();
  const sockets = (await threeQemus(lab)).map((qemu) => qemu.socket);

  await t.step("a glob gives a table with a SOCKET column, in path order", async () => {
    const run = await runCli(["list", "--socket", `${lab.dir}/*.qmp`]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(columnsBefore(run.stdout, "PEER"), expectedTable(sockets));
  });

  await t.step("a glob matches sockets only, not the logs beside them", async () => {
    const run = await runMain(["list", "--json", "--socket", `${lab.dir}/vm*`]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.deepEqual(withoutPeers(JSON.parse(run.stdout)), expectedJson(sockets));
  });

  await t.step(
    "repeated --socket keeps the order given; each JSON entry carries its socket",
    async () => {
      const run = await runMain([
        "list",
        "--json",
        "--socket",
        sockets[2]!,
        "-s",
        sockets[0]!,
        "--socket",
        sockets[2]!,
      ]);
      assert.equal(run.stderr, "");
      assert.equal(run.code, 0);
      assert.deepEqual(
        withoutPeers(JSON.parse(run.stdout)),
        expectedJson([sockets[2]!, sockets[0]!]),
      );
    },
  );

  await t.step('YANK_SOCKET takes paths and globs separated by ":"', async () => {
    const run = await runMain(["list", "--json"], {
      YANK_SOCKET: `${sockets[1]}:${lab.dir}/vm3.q?p`,
    });
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.deepEqual(
      withoutPeers(JSON.parse(run.stdout)),
      expectedJson([sockets[1]!, sockets[2]!]),
    );
  });

  await t.step("a glob in a directory segment reaches into each matching directory", async () => {
    const run = await runMain(["list", "--json", "--socket", `${lab.dir.slice(0, -1)}*/vm1.qmp`]);
    assert.equal(run.code, 0, run.stderr);
    const found = JSON.parse(run.stdout) as { socket: string }[];
    assert.ok(found.some((entry) => entry.socket === sockets[0]), run.stdout);
  });
});

Deno.test("dead sockets never hide the others: data on stdout, one line each on stderr, exit 4", async (t) => {
  await using lab = await QemuLab.create();
  const qemus = await threeQemus(lab);
  const [alive1, crashed, alive2] = qemus.map((qemu) => qemu.socket) as [string, string, string];
  // A crashed QEMU leaves its socket behind, and connecting to it is refused.
  Deno.kill(qemus[1]!.process.pid, "SIGKILL");
  await qemus[1]!.process.status;
  const missing = lab.path("nosuch.qmp");

  await t.step("table", async () => {
    const run = await runMain(["list", "-s", alive1, "-s", missing, "-s", crashed, "-s", alive2]);
    assert.equal(run.code, 4);
    assert.equal(columnsBefore(run.stdout, "PEER"), expectedTable([alive1, alive2]));
    const lines = stderrLines(run.stderr);
    assert.equal(lines.length, 2, run.stderr);
    assert.equal(
      lines[0],
      `yank: Cannot connect to ${
        JSON.stringify(missing)
      }: no such file (is the VM running, and is this its QMP socket?)`,
    );
    assert.equal(
      lines[1],
      `yank: Cannot connect to ${
        JSON.stringify(crashed)
      }: connection refused (nothing listens there; is the VM running?)`,
    );
  });

  await t.step("JSON, with the crashed QEMU's socket found by the glob", async () => {
    const run = await runMain(["list", "--json", "-s", `${lab.dir}/*.qmp`]);
    assert.equal(run.code, 4);
    assert.deepEqual(withoutPeers(JSON.parse(run.stdout)), expectedJson([alive1, alive2]));
    assert.equal(stderrLines(run.stderr).length, 1, run.stderr);
    assert.ok(run.stderr.includes(JSON.stringify(crashed)), run.stderr);
  });

  await t.step(
    "a QEMU stopped cleanly removes its socket: the glob no longer finds it",
    async () => {
      await qemus[2]!.process.stop();
      const run = await runMain(["list", "--json", "-s", `${lab.dir}/vm[13].qmp`]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(withoutPeers(JSON.parse(run.stdout)), expectedJson([alive1]));
    },
  );

  await t.step("when every socket fails, stdout stays empty", async () => {
    const stopped = qemus[2]!.socket; // stopped in the step before
    const run = await runMain(["list", "--json", "-s", missing, "-s", crashed, "-s", stopped]);
    assert.equal(run.code, 4);
    assert.equal(run.stdout, "");
    assert.equal(stderrLines(run.stderr).length, 3, run.stderr);
  });
});

Deno.test("a socket glob that matches nothing exits 4 and says so", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  const nothing = `${lab.dir}/*.nosuch`;

  await t.step("alone", async () => {
    const run = await runMain(["list", "--socket", nothing]);
    assert.equal(run.code, 4);
    assert.equal(run.stdout, "");
    assert.deepEqual(stderrLines(run.stderr), [
      `yank: Cannot connect to ${
        JSON.stringify(nothing)
      }: no socket matches this pattern (check the path given with --socket)`,
    ]);
  });

  await t.step("beside a healthy socket, whose instances are still listed", async () => {
    const run = await runMain(["list", "--socket", qemu.socket, "--socket", nothing]);
    assert.equal(run.code, 4);
    assert.equal(columnsBefore(run.stdout, "PEER"), expectedTable([qemu.socket]));
    assert.equal(stderrLines(run.stderr).length, 1, run.stderr);
    assert.ok(run.stderr.includes("no socket matches"), run.stderr);
  });
});

Deno.test("yank --chardev 'charnet*' across three QEMUs: every peer sees EOF", async () => {
  await using lab = await QemuLab.create();
  const vms = [];
  for (let i = 0; i < 3; i++) vms.push(await chardevConnectedToPeer(lab));
  const eof = vms.map(() => false);
  vms.forEach(({ peer }, i) => peer.closed.then(() => eof[i] = true));
  const run = await runMain(["--chardev", "charnet*", "--socket", `${lab.dir}/*.qmp`]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  assert.equal(
    run.stdout,
    vms.map(({ qemu }) => `${qemu.socket}: yanked chardev charnet0\n`).join(""),
  );
  assert.ok(await eventually(() => eof.every(Boolean), 10_000), `EOF seen: ${eof}`);

  // The instances stay (a client chardev reconnects); in JSON each yank carries its socket.
  const json = await runMain(["chardev", "charnet0", "--json", "-s", `${lab.dir}/*.qmp`]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(
    JSON.parse(json.stdout),
    vms.map(({ qemu }) => ({ socket: qemu.socket, type: "chardev", id: "charnet0" })),
  );
});

Deno.test("across many VMs a selector need only match on some; matching nowhere exits 3", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu: withPeer, peer } = await chardevConnectedToPeer(lab);
  const plain = await lab.startQemu();
  const sockets = ["--socket", withPeer.socket, "--socket", plain.socket];

  await t.step("charnet0 exists on one VM only: yanked there, the other left alone", async () => {
    let eof = false;
    peer.closed.then(() => eof = true);
    const run = await runMain(["--chardev", "charnet*", ...sockets]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `${withPeer.socket}: yanked chardev charnet0\n`);
    assert.ok(await eventually(() => eof, 10_000), "the peer saw EOF");
  });

  await t.step("a selector that matches on no VM is exit 3, named once", async () => {
    const run = await runMain([
      "--chardev",
      "charnet*",
      "--block-node",
      "nbd*",
      "--dry-run",
      ...sockets,
    ]);
    assert.equal(run.code, 3);
    assert.equal(run.stdout, `${withPeer.socket}: would yank chardev charnet0\n`);
    assert.equal(stderrLines(run.stderr).length, 1, run.stderr);
    assert.match(run.stderr, /block-node "nbd\*" on any of the 2 sockets that answered/);
  });
});

Deno.test("busy sockets among healthy ones: exit 5, the healthy ones' data printed, within one --timeout", async () => {
  await using lab = await QemuLab.create();
  const healthy = (await threeQemus(lab)).map((qemu) => qemu.socket);
  const busy: string[] = [];
  for (let i = 0; i < 3; i++) {
    const qemu = await lab.startQemu({ name: "busy" });
    await lab.qmp(qemu.socket); // holds the only client slot
    busy.push(qemu.socket);
  }
  const run = await runMain(["list", "--timeout", "2", "-s", `${lab.dir}/*.qmp`]);
  assert.equal(run.code, 5);
  assert.equal(columnsBefore(run.stdout, "PEER"), expectedTable(healthy));
  const lines = stderrLines(run.stderr);
  assert.equal(lines.length, 3, run.stderr);
  busy.forEach((socket, i) => {
    assert.ok(lines[i]!.includes(JSON.stringify(socket)), lines[i]);
    assert.match(lines[i]!, /is busy/);
  });
  // One deadline for the whole run: three busy sockets cost one --timeout, not three.
  const limit = 2000 + TIMEOUT_ALLOWANCE_MS;
  assert.ok(run.elapsedMs >= 1950 && run.elapsedMs < limit, `took ${run.elapsedMs} ms`);
});

Deno.test("sockets never reached within --timeout are 'not tried', not misjudged as busy or hung", async (t) => {
  await using lab = await QemuLab.create();
  // 70 monitors that accept and never greet, then one healthy QEMU, last in line.
  const held: Deno.Listener[] = [];
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < 70; i++) {
    const listener = Deno.listen({ transport: "unix", path: lab.path(`held${i}.sock`) });
    held.push(listener);
    (async () => {
      for await (const conn of listener) conns.push(conn);
    })().catch(() => {});
  }
  const qemu = await lab.startQemu({ name: "zz" });
  const sockets = ["--socket", `${lab.dir}/held*.sock`, "--socket", qemu.socket];
  try {
    await t.step("list: exit 5; the healthy QEMU's line says it was not tried", async () => {
      const run = await runMain(["list", ...sockets, "--timeout", "1"]);
      assert.equal(run.code, 5);
      assert.equal(run.stdout, "");
      const lines = stderrLines(run.stderr);
      assert.equal(lines.length, 71, run.stderr);
      assert.equal(lines.filter((l) => l.includes("is busy")).length, 64);
      assert.ok(
        lines.some((l) => l.includes(`"${qemu.socket}" was not tried: --timeout 1 s ran out`)),
        run.stderr,
      );
    });

    await t.step(
      "check: WARNING for the busy ones, UNKNOWN (not CRITICAL) for the rest",
      async () => {
        const run = await runMain(["check", ...sockets, "--timeout", "1", "--format", "json"]);
        assert.equal(run.code, 1);
        const reports = JSON.parse(run.stdout).sockets as { socket: string; state: string }[];
        const healthy = reports.find((r) => r.socket === qemu.socket)!;
        assert.equal(healthy.state, "UNKNOWN");
        assert.equal(reports.filter((r) => r.state === "WARNING").length, 64);
        assert.equal(reports.filter((r) => r.state === "CRITICAL").length, 0);
      },
    );
  } finally {
    for (const conn of conns) conn.close();
    for (const listener of held) listener.close();
  }
});
