/**
 * `yank list` shows what is behind each instance, against real QEMU 7.2: an NBD node's server
 * and the guest disk it backs; and, when the main loop does not answer in-band queries, the
 * instances without peers plus one line on stderr.
 */

import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";
import { QemuLab } from "./support/qemu_lab.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";
import { alignedTable } from "./support/table.ts";

Deno.test("list shows an NBD node's server and the guest disk it backs; --json adds peer", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd();
  // A paused pc machine, so that a guest device can sit on the node.
  const qemu = await lab.startQemu({ monitors: 2, args: ["-M", "pc", "-S", "-m", "64"] });
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  await setup.execute("blockdev-add", {
    driver: "nbd",
    "node-name": "nbd0",
    server: { type: "unix", path: nbd.socket },
    export: "",
  });
  await setup.execute("device_add", { driver: "virtio-blk-pci", id: "disk0", drive: "nbd0" });

  const table = await runCli(["list", "--socket", qemu.socket]);
  assert.equal(table.stderr, "");
  assert.equal(table.code, 0);
  assert.equal(
    table.stdout,
    alignedTable([
      ["TYPE", "NAME", "PEER", "DISK"],
      ["chardev", "compat_monitor0", `unix:${qemu.socket} (listening, connected)`, "-"],
      ["chardev", "compat_monitor1", `unix:${qemu.extraSockets[0]} (listening, connected)`, "-"],
      ["block-node", "nbd0", `unix:${nbd.socket}`, "disk0"],
    ]),
  );

  const json = await runCli(["list", "--socket", qemu.socket, "--json"]);
  assert.equal(json.code, 0);
  const node = JSON.parse(json.stdout).find((i: { type: string }) => i.type === "block-node");
  // QEMU's own keys first, in QEMU's order, then yank's.
  assert.deepEqual(Object.keys(node), ["node-name", "type", "peer", "disk"]);
  assert.deepEqual(node.peer.server, { type: "unix", path: nbd.socket });
  assert.equal(node.disk, "disk0");
});

Deno.test("list without in-band answers: the instances, no peers, one line on stderr", async () => {
  const silent = new Set(["query-chardev", "query-named-block-nodes", "query-block"]);
  await using server = await startFakeQmp({
    reply: (command) => silent.has(command.name) ? { silent: true } : undefined,
  });
  const run = await runCli(["list", "--socket", server.path, "--timeout", "1"]);
  assert.equal(run.code, 0);
  assert.equal(
    run.stdout,
    alignedTable([
      ["TYPE", "NAME", "PEER", "DISK"],
      ["chardev", "compat_monitor0", "-", "-"],
      ["chardev", "charnet0", "-", "-"],
      ["block-node", "nbd0", "-", "-"],
    ]),
  );
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^yank: warning: ".*": no peers listed, .*main loop may be hung/);
  assert.ok(lines[0]!.includes(server.path));
});

Deno.test("an NBD export named 50% on a socket path with + and spaces: list shows both as QEMU has them", async () => {
  await using lab = await QemuLab.create();
  const socket = lab.path("a+b c%20\td.sock");
  const nbd = await lab.startNbd(1, { exportName: "50%", socket });
  const qemu = await lab.startQemu({ monitors: 2 });
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  await setup.execute("blockdev-add", {
    driver: "nbd",
    "node-name": "nbd0",
    server: { type: "unix", path: nbd.socket },
    export: "50%",
  });

  const table = await runCli(["list", "--socket", qemu.socket]);
  assert.equal(table.stderr, "");
  assert.equal(table.code, 0);
  const row = table.stdout.split("\n").find((line) => line.startsWith("block-node"));
  // Verbatim but for the tab, which a table shows as an escape.
  assert.ok(row?.includes(`unix:${socket.replace("\t", "\\x09")} export 50%`), table.stdout);

  const json = await runCli(["list", "--socket", qemu.socket, "--json"]);
  assert.equal(json.stderr, "");
  assert.equal(json.code, 0);
  const node = JSON.parse(json.stdout).find((i: { type: string }) => i.type === "block-node");
  assert.deepEqual(node.peer.server, { type: "unix", path: socket });
  assert.equal(node.peer.export, "50%");
});

Deno.test("an NBD node over TLS (PSK): QEMU writes the same URI, and list reads it raw", async () => {
  await using lab = await QemuLab.create();
  const image = lab.path("tls.img");
  const created = await new Deno.Command("qemu-img", {
    args: ["create", "-f", "raw", image, "1M"],
    stdout: "null",
    stderr: "null",
  }).output();
  assert.ok(created.success);
  const psk = lab.path("psk");
  await Deno.mkdir(psk);
  await Deno.writeTextFile(`${psk}/keys.psk`, "qemu:0123456789abcdef0123456789abcdef\n");
  const socket = lab.path("t+ls 50%.sock");
  lab.spawn("qemu-nbd", [
    "--object",
    `tls-creds-psk,id=tls0,endpoint=server,dir=${psk}`,
    "--tls-creds",
    "tls0",
    "-f",
    "raw",
    "-k",
    socket,
    "-x",
    "50%",
    "-t",
    image,
  ]);
  const qemu = await lab.startQemu({ monitors: 2 });
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  await setup.execute("object-add", {
    "qom-type": "tls-creds-psk",
    id: "t0",
    endpoint: "client",
    dir: psk,
    username: "qemu",
  });
  const add = {
    driver: "nbd",
    "node-name": "nbd0",
    server: { type: "unix", path: socket },
    export: "50%",
    "tls-creds": "t0",
  };
  // qemu-nbd may not listen yet: the lab's wait for a listener does not start it here.
  let added = false;
  for (let attempt = 0; attempt < 100 && !added; attempt++) {
    added = await setup.execute("blockdev-add", add).then(() => true, () => false);
    if (!added) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(added, "blockdev-add over TLS");

  const json = await runCli(["list", "--socket", qemu.socket, "--json"]);
  assert.equal(json.stderr, "");
  assert.equal(json.code, 0);
  const node = JSON.parse(json.stdout).find((i: { type: string }) => i.type === "block-node");
  assert.equal(node.peer.filename, `nbd+unix:///50%?socket=${socket}`);
  assert.deepEqual(node.peer.server, { type: "unix", path: socket });
  assert.equal(node.peer.export, "50%");
});
