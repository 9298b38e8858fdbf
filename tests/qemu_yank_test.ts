/**
 * The CLI against real QEMU 7.2: each yank instance type, checked by QEMU's state afterwards,
 * plus the busy monitor and the hung main loop. QEMU missing is a failure, never a skip.
 *
 * Most runs call `main()` in-process (`runMain`); one per exit code runs the real process
 * (`runCli`), with the compiled binary's permissions, to show the same through a process.
 */

import assert from "node:assert/strict";
import { alignedTable, withoutPeers } from "./support/table.ts";
import {
  runCli,
  runMain,
  spawnCli,
  STARTUP_ALLOWANCE_MS,
  TIMEOUT_ALLOWANCE_MS,
} from "./support/cli.ts";
import {
  chardevConnectedToPeer,
  eventually,
  hungMainLoop,
  jobState,
  migrationStatus,
  QemuLab,
  stuckBackupJob,
  stuckMigration,
} from "./support/qemu_lab.ts";
import type { QmpClient } from "../lib/qmp/client.ts";

function assertOneLine(stderr: string, ...fragments: string[]): void {
  assert.equal(stderr.split("\n").filter((l) => l !== "").length, 1, `one line: ${stderr}`);
  assert.match(stderr, /^yank: /);
  for (const fragment of fragments) {
    assert.ok(stderr.includes(fragment), `"${fragment}" in ${stderr}`);
  }
}

Deno.test("list shows QEMU's yank instances as a table and as JSON", async () => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);
  const table = await runCli(["list", "--socket", qemu.socket]);
  assert.equal(table.stderr, "");
  assert.equal(table.code, 0);
  assert.equal(
    table.stdout,
    alignedTable([
      ["TYPE", "NAME", "PEER", "DISK"],
      ["chardev", "compat_monitor0", `unix:${qemu.socket} (listening, connected)`, "-"],
      ["chardev", "charnet0", `127.0.0.1:${peer.port}`, "-"],
    ]),
  );
  const json = await runMain(["list", "--socket", qemu.socket, "--json"]);
  assert.equal(json.code, 0);
  assert.deepEqual(withoutPeers(JSON.parse(json.stdout)), [
    { type: "chardev", id: "compat_monitor0" },
    { type: "chardev", id: "charnet0" },
  ]);
});

Deno.test("list works on a pretty=on monitor and from YANK_SOCKET", async () => {
  await using lab = await QemuLab.create();
  const pretty = lab.path("pretty.qmp");
  const qemu = await lab.startQemu({
    args: [
      "-chardev",
      `socket,id=prettymon,path=${pretty},server=on,wait=off`,
      "-mon",
      "chardev=prettymon,mode=control,pretty=on",
    ],
  });
  await eventually(() => Deno.stat(pretty).then(() => true, () => false));
  const run = await runMain(["list", "--json"], { YANK_SOCKET: pretty });
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  assert.deepEqual(
    JSON.parse(run.stdout).map((i: { id: string }) => i.id).sort(),
    ["compat_monitor0", "prettymon"],
  );
  assert.ok(qemu.socket);
});

Deno.test("yank chardev shuts down the connection: the peer sees EOF", async () => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);
  let eof = false;
  peer.closed.then(() => eof = true);
  const run = await runCli(["chardev", "charnet0", "--socket", qemu.socket]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  assert.equal(run.stdout, "yanked chardev charnet0\n");
  assert.ok(await eventually(() => eof, 10_000), "the peer saw EOF");
});

Deno.test("a glob never yanks the monitor yank talks through; --force is needed by name", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);

  await t.step("--chardev '*' --dry-run plans only charnet0", async () => {
    const run = await runMain(["--chardev", "*", "--dry-run", "--socket", qemu.socket]);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "would yank chardev charnet0\n");
  });

  await t.step("naming compat_monitor0 without --force is refused with exit 2", async () => {
    const run = await runCli(["chardev", "compat_monitor0", "--socket", qemu.socket]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assertOneLine(run.stderr, '"compat_monitor0"', qemu.socket, "--force");
  });

  await t.step("with --force it is yanked and QEMU accepts a new client", async () => {
    const run = await runMain(["chardev", "compat_monitor0", "--force", "--socket", qemu.socket]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "yanked chardev compat_monitor0\n");
    const after = await runMain(["list", "--socket", qemu.socket, "--json"]);
    assert.equal(after.code, 0);
  });

  await t.step("the peer of charnet0 was left alone throughout", async () => {
    let eof = false;
    peer.closed.then(() => eof = true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(eof, false);
  });
});

Deno.test("yank of a missing instance exits 3 and names it; nothing is yanked", async () => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);
  let eof = false;
  peer.closed.then(() => eof = true);
  const run = await runCli(["chardev", "charnet0", "nosuch", "--socket", qemu.socket]);
  assert.equal(run.code, 3);
  assert.equal(run.stdout, "");
  assertOneLine(run.stderr, '"nosuch"', qemu.socket, "yank list");
  const glob = await runMain(["--block-node", "nbd*", "--socket", qemu.socket]);
  assert.equal(glob.code, 3);
  assertOneLine(glob.stderr, '"nbd*"');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(eof, false, "charnet0 was not yanked: yank is all-or-nothing");
});

Deno.test("yank block-node ends a backup job stuck on a frozen NBD server with an I/O error", async () => {
  await using lab = await QemuLab.create();
  const { qemu, setup } = await stuckBackupJob(lab);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal((await jobState(setup, "job0"))?.status, "running");
  const run = await runMain(["block-node", "nbd0", "--socket", qemu.socket]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  assert.equal(run.stdout, "yanked block-node nbd0\n");
  assert.ok(
    await eventually(async () => (await jobState(setup, "job0"))?.status === "concluded", 3000),
  );
  assert.equal((await jobState(setup, "job0"))?.error, "Input/output error");
});

Deno.test("yank migration turns a stuck migration to failed; a second yank exits 3", async () => {
  await using lab = await QemuLab.create();
  const { qemu, setup } = await stuckMigration(lab);
  assert.ok(await eventually(async () => (await migrationStatus(setup)) === "active", 3000));
  const listed = await runMain(["list", "--socket", qemu.socket]);
  assert.match(listed.stdout, /^migration +- +active, [\d.]+ [KMG]iB sent +-$/m);
  const json = await runMain(["list", "--socket", qemu.socket, "--json"]);
  const migration = JSON.parse(json.stdout).find((i: { type: string }) => i.type === "migration");
  assert.equal(migration.peer.status, "active");
  assert.ok(migration.peer.transferred > 0, json.stdout);
  const run = await runMain(["migration", "--socket", qemu.socket, "--json"]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  assert.deepEqual(JSON.parse(run.stdout), [{ type: "migration" }]);
  assert.ok(await eventually(async () => (await migrationStatus(setup)) === "failed", 3000));
  const again = await runMain(["migration", "--socket", qemu.socket]);
  assert.equal(again.code, 3);
  assertOneLine(again.stderr, "migration", qemu.socket);
});

Deno.test("a busy monitor gives exit 5 within --timeout, saying it is busy", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  await lab.qmp(qemu.socket); // holds the only client slot
  const run = await runCli(["list", "--socket", qemu.socket, "--timeout", "1"]);
  assert.equal(run.code, 5);
  assert.equal(run.stdout, "");
  assertOneLine(run.stderr, "busy", qemu.socket, "1 s");
  const limit = 1000 + TIMEOUT_ALLOWANCE_MS + STARTUP_ALLOWANCE_MS;
  assert.ok(run.elapsedMs < limit, `took ${run.elapsedMs} ms`);
});

Deno.test("a hung main loop gives exit 5 within --timeout, saying it is hung", async () => {
  await using lab = await QemuLab.create();
  const { qemu } = await hungMainLoop(lab);
  const run = await runMain(["block-node", "nbd0", "--socket", qemu.socket, "--timeout", "1"]);
  assert.equal(run.code, 5);
  assert.equal(run.stdout, "");
  assertOneLine(run.stderr, "main loop is hung", qemu.socket, "qmp_capabilities", "1 s");
  assert.ok(run.elapsedMs < 1000 + TIMEOUT_ALLOWANCE_MS, `took ${run.elapsedMs} ms`);
});

Deno.test("a client negotiated before the hang yanks through it and the main loop recovers", async () => {
  await using lab = await QemuLab.create();
  let early: QmpClient | undefined;
  const { qemu, hang } = await hungMainLoop(lab, {
    beforeHang: async (qemu) => {
      early = await lab.qmp(qemu.extraSockets[0]!, 2000);
    },
  });
  await assert.rejects(early!.execute("query-status", undefined, { timeoutMs: 300 }));
  assert.ok(early!.oob);
  await early!.execute("yank", { instances: [{ type: "block-node", "node-name": "nbd0" }] }, {
    oob: true,
  });
  await hang;
  const run = await runMain(["list", "--socket", qemu.socket, "--timeout", "2"]);
  assert.equal(run.code, 0, run.stderr);
});

Deno.test("a monitor held long enough to fill its queue is still 'busy' (exit 5), never exit 4", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  // Holds the monitor; each timed-out attempt stays queued (docs/qmp.md#one-client-per-monitor).
  await lab.qmp(qemu.socket);
  for (let attempt = 1; attempt <= 4; attempt++) {
    const run = await runMain(["list", "--socket", qemu.socket, "--timeout", "0.3"]);
    assert.equal(run.code, 5, `attempt ${attempt}: ${run.stderr}`);
    assertOneLine(run.stderr, "busy", qemu.socket);
    assert.doesNotMatch(run.stderr, /os error/);
  }
  const check = await runMain(["check", "--socket", qemu.socket, "--timeout", "0.3"]);
  assert.equal(check.code, 1, check.stdout);
  assert.match(check.stdout, /^YANK WARNING - The monitor .* is busy/);
});

Deno.test("a path that is not a socket says so (exit 4)", async (t) => {
  await using lab = await QemuLab.create();
  const file = lab.path("vm1.pid");
  await Deno.writeTextFile(file, "1234\n");
  for (const path of [file, lab.dir]) {
    await t.step(path === file ? "a regular file" : "a directory", async () => {
      const run = path === file
        ? await runCli(["list", "--socket", path])
        : await runMain(["list", "--socket", path]);
      assert.equal(run.code, 4);
      assertOneLine(run.stderr, JSON.stringify(path), "not a socket");
    });
  }
});

Deno.test("a stale reply left by a client that hung up is dropped by id, before negotiation ends", async () => {
  await using lab = await QemuLab.create();
  let early: QmpClient | undefined;
  const { qemu, hangClient } = await hungMainLoop(lab, {
    beforeHang: async (qemu) => {
      early = await lab.qmp(qemu.extraSockets[0]!, 2000);
    },
  });
  // The client whose command blocks the main loop hangs up; QEMU will hand that command's
  // reply to the next client of the same monitor (docs/qmp.md#stale-replies).
  const monitor = qemu.extraSockets[1]!;
  hangClient.close();
  const run = spawnCli(["list", "--json", "--trace", "--socket", monitor, "--timeout", "20"]);
  // yank's qmp_capabilities now waits behind the blocked main loop.
  await run.waitForLine(/-> \{"execute":"qmp_capabilities"/);
  await early!.execute("yank", { instances: [{ type: "block-node", "node-name": "nbd0" }] }, {
    oob: true,
  });
  const { code, stdout, stderr } = await run.wait();
  assert.equal(code, 0, stderr);
  assert.ok(JSON.parse(stdout).some((i: { type: string }) => i.type === "block-node"));
  const lines = stderr.trimEnd().split("\n");
  const dropped = lines.findIndex((l) => l.includes("<- (dropped)"));
  const capsReply = lines.findIndex((l) => /<- \{"return":\{\},"id":"yank-/.test(l));
  assert.ok(dropped >= 0, `a dropped stale reply in:\n${stderr}`);
  assert.match(lines[dropped]!, /"return":""/, "the stale reply is the hung qemu-io's");
  assert.ok(dropped < capsReply, "it came before the reply to qmp_capabilities");
});
