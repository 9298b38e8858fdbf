/**
 * `yank reattach` against real QEMU 7.2 and real NBD servers (qemu-nbd, qemu-storage-daemon,
 * nbdkit): a pattern written before the failure, reads that fail with EIO after the yank, and
 * the same pattern read back after the reattach. qemu-io run through HMP prints its result on
 * QEMU's stderr, so the reads are judged from QEMU's log.
 */

import assert from "node:assert/strict";
import { runCli, runMain, TIMEOUT_ALLOWANCE_MS } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import { addNbdNode, eventually, type LabProcess, type Qemu, QemuLab } from "./support/qemu_lab.ts";
import type { QmpClient } from "../lib/qmp/client.ts";

/** Where the node's server is, as blockdev-add takes it. */
interface Served {
  process: LabProcess;
  server: Record<string, unknown>;
  export?: string;
}

/** A QEMU whose raw node `fmt0` sits on NBD node `st0`, 64 KiB of 0x5a written through it. */
interface Disk {
  qemu: Qemu;
  /** Set-up and qemu-io, on the last monitor. */
  setup: QmpClient;
  /** A client negotiated before any hang, on the second monitor: it yanks. */
  yanker: QmpClient;
}

async function diskOn(lab: QemuLab, served: Served, parent = true): Promise<Disk> {
  const qemu = await lab.startQemu({ monitors: 3, lineBuffered: true });
  const setup = await lab.qmp(qemu.extraSockets[1]!);
  const yanker = await lab.qmp(qemu.extraSockets[0]!);
  await setup.execute("blockdev-add", {
    driver: "nbd",
    "node-name": "st0",
    server: served.server,
    ...(served.export === undefined ? {} : { export: served.export }),
  });
  if (!parent) return { qemu, setup, yanker };
  await setup.execute("blockdev-add", { driver: "raw", "node-name": "fmt0", file: "st0" });
  await qemuIo(qemu, setup, "write -P 0x5a 0 64k", "wrote 65536/65536 bytes at offset 0");
  return { qemu, setup, yanker };
}

/** Runs qemu-io on fmt0 through HMP and waits until QEMU's log shows `expected` once more. */
async function qemuIo(qemu: Qemu, setup: QmpClient, command: string, expected: string) {
  const before = await count(qemu, expected);
  await setup.execute("human-monitor-command", { "command-line": `qemu-io fmt0 "${command}"` });
  assert.ok(
    await eventually(async () => (await count(qemu, expected)) > before, 10_000),
    `QEMU's log shows "${expected}" after qemu-io ${command}: ${await Deno.readTextFile(qemu.log)}`,
  );
}

async function count(qemu: Qemu, text: string): Promise<number> {
  return (await Deno.readTextFile(qemu.log).catch(() => "")).split(text).length - 1;
}

const EIO = "read failed: Input/output error";
const READ_BACK = "read 65536/65536 bytes at offset 0";

/**
 * Freezes the server, hangs QEMU's main loop on a read, yanks st0 out-of-band (the read fails
 * with EIO), thaws the server and shows that reads still fail: the node never reconnects.
 */
async function yankWhileFrozen(disk: Disk, server: LabProcess): Promise<void> {
  const { qemu, setup, yanker } = disk;
  await server.freeze();
  const before = await count(qemu, EIO);
  const hang = setup.execute("human-monitor-command", {
    "command-line": `qemu-io fmt0 "read -P 0x5a 0 64k"`,
  }, { timeoutMs: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await yanker.execute("yank", { instances: [{ type: "block-node", "node-name": "st0" }] }, {
    oob: true,
  });
  await hang;
  assert.ok(await eventually(async () => (await count(qemu, EIO)) > before, 10_000));
  server.thaw();
  await qemuIo(qemu, setup, "read -P 0x5a 0 64k", EIO);
}

/**
 * Gives the guest fmt0 as a disk that stops the VM on an I/O error, yanks st0 below it and runs
 * the VM until the firmware's read pauses it (io-error); returns how to ask the VM's status.
 */
async function pausedByYankedDisk(setup: QmpClient): Promise<() => Promise<string>> {
  await setup.execute("device_add", {
    driver: "virtio-blk-pci",
    id: "vdisk0",
    drive: "fmt0",
    werror: "stop",
    rerror: "stop",
  });
  await setup.execute("yank", { instances: [{ type: "block-node", "node-name": "st0" }] });
  await setup.execute("cont");
  const status = async () => ((await setup.execute("query-status")) as { status: string }).status;
  assert.ok(await eventually(async () => (await status()) === "io-error", 30_000), await status());
  return status;
}

async function nodeNames(client: QmpClient): Promise<string[]> {
  const nodes = await client.execute("query-named-block-nodes", { flat: true }) as {
    "node-name": string;
  }[];
  return nodes.map((n) => n["node-name"]).sort();
}

Deno.test("reattach brings a yanked qemu-nbd disk back under its name, the data intact (export 50%, a path with + and spaces)", async () => {
  await using lab = await QemuLab.create();
  const socket = lab.path("nbd a+b c.sock");
  const nbd = await lab.startNbd(16, { socket, exportName: "50%", shared: 2 });
  const disk = await diskOn(lab, {
    process: nbd.process,
    server: { type: "unix", path: socket },
    export: "50%",
  });
  await yankWhileFrozen(disk, nbd.process);
  const run = await runCli(["reattach", "--socket", disk.qemu.socket]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  assert.match(
    run.stdout,
    new RegExp(
      `^reattached block-node st0 \\(unix:${lab.dir}/nbd a\\+b c\\.sock export "50%"\\) under fmt0 in \\d+ ms\\n$`,
    ),
  );
  await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", READ_BACK);
  assert.deepEqual(await nodeNames(disk.setup), ["fmt0", "st0"]);
  // A second run finds nothing yanked.
  const again = await runMain(["reattach", "--socket", disk.qemu.socket]);
  assert.equal(again.code, 3);
  assert.match(again.stderr, /^yank: No yanked NBD node on "[^"]+"/);
});

Deno.test("reattach against qemu-nbd serving one client keeps the disk under a new name and says why", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd(16);
  const disk = await diskOn(lab, {
    process: nbd.process,
    server: { type: "unix", path: nbd.socket },
  });
  await yankWhileFrozen(disk, nbd.process);
  const run = await runMain(["reattach", "--socket", disk.qemu.socket, "--json"]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  const [entry] = JSON.parse(run.stdout);
  assert.equal(entry["node-name"], "st0");
  assert.equal(entry["name-kept"], false);
  assert.match(entry.now, /^yank-[0-9a-f]{8}$/);
  assert.match(entry["name-lost"], /does not answer a second client/);
  await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", READ_BACK);
  assert.deepEqual(await nodeNames(disk.setup), [entry.now, "fmt0"].sort());
});

Deno.test("reattach brings back a disk served by qemu-storage-daemon and by nbdkit", async (t) => {
  await using lab = await QemuLab.create();
  await t.step("qemu-storage-daemon, a named export", async () => {
    const qsd = await lab.startStorageDaemon(16);
    const disk = await diskOn(lab, {
      process: qsd.process,
      server: { type: "unix", path: qsd.socket },
      export: qsd.export,
    });
    await yankWhileFrozen(disk, qsd.process);
    const run = await runMain(["reattach", "--socket", disk.qemu.socket]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^reattached block-node st0 .* export "disk0"\) under fmt0/);
    await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", READ_BACK);
    assert.deepEqual(await nodeNames(disk.setup), ["fmt0", "st0"]);
  });
  await t.step("nbdkit", async () => {
    const nbdkit = await lab.startNbdkit(16);
    const disk = await diskOn(lab, {
      process: nbdkit.process,
      server: { type: "unix", path: nbdkit.socket },
    });
    await yankWhileFrozen(disk, nbdkit.process);
    const run = await runMain(["reattach", "--socket", disk.qemu.socket, "--block-node", "st*"]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", READ_BACK);
    assert.deepEqual(await nodeNames(disk.setup), ["fmt0", "st0"]);
  });
});

Deno.test("reattach over TCP, and --dry-run changes nothing", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbdTcp(16);
  const disk = await diskOn(lab, {
    process: nbd.process,
    server: { type: "inet", host: "127.0.0.1", port: String(nbd.port) },
  });
  await yankWhileFrozen(disk, nbd.process);
  const plan = await runMain(["reattach", "--socket", disk.qemu.socket, "--dry-run"]);
  assert.equal(plan.stderr, "");
  assert.equal(plan.code, 0);
  assert.equal(
    plan.stdout,
    `would reattach block-node st0 (127.0.0.1:${nbd.port}) under fmt0\n`,
  );
  await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", EIO);
  const run = await runMain(["reattach", "--socket", disk.qemu.socket]);
  assert.equal(run.code, 0, run.stderr);
  await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", READ_BACK);
});

Deno.test("reattach refuses what cannot be done safely, in one line each", async (t) => {
  await using lab = await QemuLab.create();
  await t.step("a node that was never yanked: exit 3", async () => {
    const nbd = await lab.startNbd(16);
    const disk = await diskOn(lab, {
      process: nbd.process,
      server: { type: "unix", path: nbd.socket },
    });
    const run = await runMain(["reattach", "--socket", disk.qemu.socket, "--block-node", "st0"]);
    assert.equal(run.code, 3);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      /^yank: Block-node "st0" on "[^"]+" was never yanked: QEMU's connection to unix:[^ ]+ is open \(.*\)\n$/,
    );
  });
  await t.step(
    "a server that does not answer: exit 3 within --timeout, QEMU untouched",
    async () => {
      const nbd = await lab.startNbd(16, { shared: 2 });
      const disk = await diskOn(lab, {
        process: nbd.process,
        server: { type: "unix", path: nbd.socket },
      });
      await yankWhileFrozen(disk, nbd.process);
      await nbd.process.freeze();
      const run = await runMain(["reattach", "--socket", disk.qemu.socket, "--timeout", "1"]);
      assert.equal(run.code, 3);
      assert.equal(run.stdout, "");
      assert.match(
        run.stderr,
        /^yank: Not reattaching block-node "st0" on "[^"]+": its NBD server unix:[^ ]+ does not answer \(NBD server .* did not finish a handshake within \d+ ms.*\)\n$/,
      );
      assert.ok(run.elapsedMs < 1000 + TIMEOUT_ALLOWANCE_MS, `${run.elapsedMs} ms`);
      assert.deepEqual(await nodeNames(disk.setup), ["fmt0", "st0"]);
      nbd.process.thaw();
    },
  );
  await t.step("a node with no parent: exit 2", async () => {
    const nbd = await lab.startNbd(16);
    const disk = await diskOn(lab, {
      process: nbd.process,
      server: { type: "unix", path: nbd.socket },
    }, false);
    await disk.yanker.execute("yank", { instances: [{ type: "block-node", "node-name": "st0" }] }, {
      oob: true,
    });
    const run = await runMain(["reattach", "--socket", disk.qemu.socket]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      /^yank: Cannot reattach block-node "st0" on "[^"]+": it has no parent node, and QEMU can swap only a format or filter node's child \(put a format node above it .*\)\n$/,
    );
  });
});

Deno.test("watch --reattach yanks on a hang, waits with backoff while the server is frozen, then reattaches and counts each attempt", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd(16, { shared: 2 });
  const disk = await diskOn(lab, {
    process: nbd.process,
    server: { type: "unix", path: nbd.socket },
  });
  const textfile = lab.path("yank.prom");
  const watch = await startWatch(
    { socket: disk.qemu.socket, blockNode: "st0", reattach: true, hangAfter: 1, textfile },
    { until: /state=connected / },
  );
  try {
    await nbd.process.freeze();
    const before = await count(disk.qemu, EIO);
    const hang = disk.setup.execute("human-monitor-command", {
      "command-line": `qemu-io fmt0 "read -P 0x5a 0 64k"`,
    }, { timeoutMs: 60_000 });
    await watch.waitForLine(/state=recovered /, 20_000);
    await hang;
    assert.ok(await eventually(async () => (await count(disk.qemu, EIO)) > before, 10_000));
    // The server is still frozen: the first attempt (1 s after the recovery) waits.
    const waiting = await watch.waitForLine(/state=reattach-waiting /, 20_000);
    assert.match(waiting, /does not answer.*next attempt in 2 s/);
    nbd.process.thaw();
    const done = await watch.waitForLine(/state=reattached /, 30_000);
    assert.match(done, /reattached block-node \\"st0\\" \(unix:[^)]+\) under \\"fmt0\\" in \d+ ms/);
    await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", READ_BACK);
    assert.ok(
      await eventually(async () => {
        const text = await Deno.readTextFile(textfile).catch(() => "");
        return /yank_reattach_attempts_total\{socket="[^"]+",result="reattached"\} 1\n/.test(
          text,
        ) &&
          /yank_reattach_attempts_total\{socket="[^"]+",result="waiting"\} [1-9]/.test(text);
      }, 10_000),
      await Deno.readTextFile(textfile).catch(() => "(no textfile)"),
    );
  } finally {
    nbd.process.thaw();
    const result = await watch.stop("SIGTERM");
    assert.equal(result.code, 0, result.stderr);
  }
});

Deno.test("reattach --resume resumes a VM the I/O error paused (rerror=stop), only once its disk is back", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd(16, { shared: 2 });
  // A PC whose firmware reads the disk's first sector at boot; paused (-S) until set up.
  const qemu = await lab.startQemu({
    monitors: 3,
    lineBuffered: true,
    args: ["-M", "pc", "-S", "-m", "64", "-display", "none"],
  });
  const setup = await lab.qmp(qemu.extraSockets[1]!);
  await addNbdNode(setup, nbd, "st0");
  await setup.execute("blockdev-add", { driver: "raw", "node-name": "fmt0", file: "st0" });
  await qemuIo(qemu, setup, "write -P 0x5a 512 64k", "wrote 65536/65536 bytes at offset 512");
  const status = await pausedByYankedDisk(setup);

  const plan = await runMain(["reattach", "--socket", qemu.socket, "--resume", "--dry-run"]);
  assert.equal(plan.code, 0, plan.stderr);
  assert.equal(
    plan.stdout,
    `would reattach block-node st0 (unix:${nbd.socket}) under fmt0\nwould resume the VM (paused by an I/O error)\n`,
  );
  assert.equal(await status(), "io-error");

  const run = await runMain(["reattach", "--socket", qemu.socket, "--resume", "--json"]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  const entries = JSON.parse(run.stdout);
  assert.equal(entries.length, 2);
  assert.equal(entries[0]["node-name"], "st0");
  assert.deepEqual(entries[0].disks, ["vdisk0"]);
  // A device writes through fmt0: blockdev-reopen would flush the dead node, so a mirror swaps.
  assert.equal(entries[0].swap, "mirror");
  assert.equal(entries[0]["name-kept"], true);
  assert.equal(entries[0]["parent-now"], "fmt0");
  assert.deepEqual(entries[1], { type: "vm", resumed: true });
  assert.ok(await eventually(async () => (await status()) === "running", 10_000), await status());
  await qemuIo(qemu, setup, "read -P 0x5a 512 64k", "read 65536/65536 bytes at offset 512");
  assert.deepEqual(await nodeNames(setup), ["fmt0", "st0"]);
  const jobs = await setup.execute("query-jobs");
  assert.deepEqual(jobs, []);
});

Deno.test("reattach --resume leaves a VM paused while a disk it waits on is still yanked", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd(16, { shared: 2 });
  const qemu = await lab.startQemu({
    monitors: 2,
    args: ["-M", "pc", "-S", "-m", "64", "-display", "none"],
  });
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  await addNbdNode(setup, nbd, "st0");
  await setup.execute("blockdev-add", { driver: "raw", "node-name": "fmt0", file: "st0" });
  const status = await pausedByYankedDisk(setup);
  await nbd.process.freeze();
  const run = await runMain(["reattach", "--socket", qemu.socket, "--resume", "--timeout", "1"]);
  assert.equal(run.code, 3);
  assert.equal(run.stdout, "");
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, run.stderr);
  assert.match(lines[0]!, /^yank: Not reattaching block-node "st0" .* does not answer/);
  assert.match(
    lines[1]!,
    /^yank: Not resuming the VM on "[^"]+": disk "vdisk0" still waits on yanked block-node "st0" \(/,
  );
  assert.equal(await status(), "io-error");
  nbd.process.thaw();
});

Deno.test("two nodes on one qemu-storage-daemon: one yanked is refused (which one?), both yanked are both reattached", async () => {
  await using lab = await QemuLab.create();
  const qsd = await lab.startStorageDaemon(16);
  const disk = await diskOn(lab, {
    process: qsd.process,
    server: { type: "unix", path: qsd.socket },
    export: qsd.export,
  });
  await disk.setup.execute("blockdev-add", {
    driver: "nbd",
    "node-name": "st1",
    server: { type: "unix", path: qsd.socket },
    export: qsd.export,
    "read-only": true,
  });
  await disk.setup.execute("blockdev-add", {
    driver: "raw",
    "node-name": "fmt1",
    file: "st1",
    "read-only": true,
  });
  const yank = (node: string) =>
    disk.yanker.execute("yank", { instances: [{ type: "block-node", "node-name": node }] }, {
      oob: true,
    });
  await yank("st0");
  const partly = await runMain(["reattach", "--socket", disk.qemu.socket]);
  assert.equal(partly.code, 2);
  assert.equal(partly.stdout, "");
  assert.match(
    partly.stderr,
    /^yank: Cannot tell which of block-nodes "st0", "st1" on "[^"]+" were yanked: they share the NBD server unix:[^ ]+, and QEMU holds 1 open connection\(s\) to it \(.*\)\n$/,
  );
  await yank("st1");
  const run = await runMain(["reattach", "--socket", disk.qemu.socket, "--json"]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  const entries = JSON.parse(run.stdout) as Record<string, unknown>[];
  assert.deepEqual(entries.map((e) => [e["node-name"], e.parent, e["name-kept"]]), [
    ["st0", "fmt0", true],
    ["st1", "fmt1", true],
  ]);
  await qemuIo(disk.qemu, disk.setup, "read -P 0x5a 0 64k", READ_BACK);
  const nodes = await disk.setup.execute("query-named-block-nodes", { flat: true }) as {
    "node-name": string;
    ro: boolean;
  }[];
  assert.equal(nodes.find((n) => n["node-name"] === "st1")?.ro, true);
});
