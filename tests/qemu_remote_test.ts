/**
 * Remote peers over a real network (tests/support/net_lab.ts): QEMU and yank watch in one
 * network namespace, NBD servers and migration targets on hosts in others, joined by veth
 * pairs. A host that vanishes (every packet dropped), one whose server is gone (RST), one that
 * is slow but alive (a relay holding each segment), and a migration target cut off mid-way;
 * QEMU's state is checked after each.
 */

import assert from "node:assert/strict";
import type { QmpClient } from "../lib/qmp/client.ts";
import { TIMEOUT_ALLOWANCE_MS } from "./support/cli.ts";
import { type NetHost, NetLab } from "./support/net_lab.ts";
import { eventually, jobState, migrationStatus, readInMainLoop } from "./support/qemu_lab.ts";

/** The wall time (ms since the epoch) of a watch log line. */
function logTime(line: string): number {
  return Date.parse(/^time=(\S+)/.exec(line)![1]!);
}

async function addRemoteNbdNode(
  client: QmpClient,
  node: string,
  host: NetHost,
  port: number,
): Promise<void> {
  await client.execute("blockdev-add", {
    driver: "nbd",
    "node-name": node,
    server: { type: "inet", host: host.address, port: String(port) },
  });
}

/** Reads all of `node` in a backup job to a null node; resolves with the job's error, if any. */
async function readWhole(
  client: QmpClient,
  node: string,
  sizeMiB: number,
): Promise<string | undefined> {
  const id = `read-${node}-${crypto.randomUUID().slice(0, 8)}`;
  await client.execute("blockdev-add", {
    driver: "null-co",
    "node-name": `${id}-copy`,
    size: sizeMiB << 20,
  });
  await client.execute("blockdev-backup", {
    "job-id": id,
    device: node,
    target: `${id}-copy`,
    sync: "full",
    "auto-dismiss": false,
  });
  assert.ok(
    await eventually(async () => (await jobState(client, id))?.status === "concluded", 30_000),
    `${id} did not conclude`,
  );
  return (await jobState(client, id))?.error;
}

Deno.test("a remote NBD host that vanishes: judged dead from retransmissions, only its node yanked, the other host's node reads on", async () => {
  await using net = await NetLab.create();
  const storage = await net.addHost("storage");
  const backup = await net.addHost("backup");
  const gone = await net.startNbd(storage, { sizeMiB: 1 });
  const kept = await net.startNbd(backup, { sizeMiB: 1 });
  const qemu = await net.startQemu({ monitors: 3 });
  const setup = await net.lab.qmp(qemu.extraSockets[1]!);
  await addRemoteNbdNode(setup, "nbd0", storage, gone.port);
  await addRemoteNbdNode(setup, "nbd1", backup, kept.port);
  const hangAfterS = 2;
  await using watch = await net.startWatch({
    socket: qemu.extraSockets[0]!,
    blockNode: "nbd*",
    hangAfter: hangAfterS,
  });

  await net.blackhole(storage);
  const hungAt = performance.now();
  await readInMainLoop(setup, "nbd0");
  const recoveredMs = performance.now() - hungAt;
  const recovered = await watch.waitForLine(/state=recovered/);

  const hung = watch.lines.find((line) => /state=hung/.test(line))!;
  const dead = watch.lines.find((line) => /state=judged .*judged dead/.test(line))!;
  assert.match(
    dead,
    new RegExp(
      `block-node \\\\"nbd0\\\\" \\(${storage.address}:${gone.port}\\) judged dead: \\d+ byte\\(s\\) QEMU sent stayed unacknowledged for \\d+ ms, \\d+ retransmission\\(s\\)`,
    ),
  );
  assert.ok(
    watch.lines.some((line) => /state=judged .*block-node \\"nbd1\\" .*judged alive/.test(line)),
    watch.lines.join("\n"),
  );
  const yanks = watch.lines.filter((line) => /state=yanking/.test(line));
  assert.deepEqual(yanks.length, 1, watch.lines.join("\n"));
  assert.match(yanks[0]!, /yanking block-node \\"nbd0\\" \(peer judged dead\)/);
  assert.ok(
    recoveredMs < hangAfterS * 1000 + 1000 + TIMEOUT_ALLOWANCE_MS,
    `took ${recoveredMs} ms`,
  );
  const retransmissions = /(\d+) retransmission/.exec(dead)![1];
  // The probe that went unanswered was sent this long before the main loop answered again.
  const probeSeconds = Number(
    /answered again, ([\d.]+) s after the probe was sent/.exec(recovered)![1],
  );
  const hungFrom = logTime(recovered) - probeSeconds * 1000 + hangAfterS * 1000;
  console.log(
    `blackholed remote NBD host: the hung read returned ${(recoveredMs / 1000).toFixed(2)} s ` +
      `after the hang began (--hang-after ${hangAfterS}); judged dead ${
        logTime(dead) - hungFrom
      } ms after --hang-after ran out, from ${retransmissions} retransmission(s) ` +
      `(${hung.replace(/^.*msg=/, "")}); yanked block-node nbd0 only`,
  );

  // QEMU: its main loop answers, the other host's node reads all of its disk, and the yanked
  // node fails at once (it never reconnects). (HMP qemu-io prints whether the hung read
  // failed on QEMU's stdout, which a pipe buffers until QEMU exits.)
  assert.equal((await setup.execute("query-status") as { status: string }).status, "running");
  assert.equal(await readWhole(setup, "nbd1", 1), undefined);
  assert.equal(await readWhole(setup, "nbd0", 1), "Input/output error");
});

Deno.test("a remote NBD server that resets (RST): QEMU fails the read itself, watch yanks nothing", async () => {
  await using net = await NetLab.create();
  const storage = await net.addHost("storage");
  const nbd = await net.startNbd(storage, { sizeMiB: 1 });
  const qemu = await net.startQemu({ monitors: 3 });
  const setup = await net.lab.qmp(qemu.extraSockets[1]!);
  await addRemoteNbdNode(setup, "nbd0", storage, nbd.port);
  await using watch = await net.startWatch({
    socket: qemu.extraSockets[0]!,
    blockNode: "nbd*",
    hangAfter: 2,
  });
  await net.reject(storage);
  const started = performance.now();
  await readInMainLoop(setup, "nbd0");
  const failedMs = performance.now() - started;
  // Probes go on for longer than --hang-after after the failure; none goes unanswered.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.equal((await setup.execute("query-status") as { status: string }).status, "running");
  assert.deepEqual(
    watch.lines.filter((line) => /state=(hung|judged|yanking|stalled)/.test(line)),
    [],
  );
  // The node was not yanked but is broken by the reset: QEMU's own error, not yank's. (The
  // read's own result goes to QEMU's stdout, which a pipe buffers until QEMU exits.)
  assert.equal(await readWhole(setup, "nbd0", 1), "Input/output error");
  console.log(
    `remote NBD server resetting: QEMU failed the read itself after ${
      failedMs.toFixed(0)
    } ms; watch yanked nothing`,
  );
});

Deno.test("a slow but alive remote NBD server (each segment held 400 ms): never judged dead, never yanked", async () => {
  await using net = await NetLab.create();
  const storage = await net.addHost("storage");
  const nbd = await net.startNbd(storage, { sizeMiB: 1 });
  const delayMs = 400;
  const relay = await net.startDelayRelay(storage, {
    port: 10900,
    targetPort: nbd.port,
    delayMs,
  });
  const qemu = await net.startQemu({ monitors: 3 });
  const setup = await net.lab.qmp(qemu.extraSockets[1]!);
  // The NBD handshake's round trips through the relay take seconds; the main loop waits on
  // them, so the node is added before watch starts.
  await addRemoteNbdNode(setup, "nbd0", storage, relay.port);
  const hangAfterS = 2;
  await using watch = await net.startWatch({
    socket: qemu.extraSockets[0]!,
    blockNode: "nbd*",
    hangAfter: hangAfterS,
    stallAfter: hangAfterS,
  });
  // Reads in the main loop, one after the other for about 10 s: each blocks it for a round
  // trip, 2 x 400 ms, below --hang-after.
  const reads: number[] = [];
  for (let i = 0; i < 8; i++) {
    const started = performance.now();
    await readInMainLoop(setup, "nbd0");
    reads.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Each read took at least the relay's two holds: the peer really was slow.
  assert.ok(reads.every((ms) => ms >= 2 * delayMs), reads.join(", "));
  // All of the disk reads without an error through the relay (a backup job, which moves
  // slowly, and --stall-after never fires).
  assert.equal(await readWhole(setup, "nbd0", 1), undefined);
  assert.deepEqual(
    watch.lines.filter((line) => /state=(hung|judged|yanking|stalled)/.test(line)),
    [],
  );
  console.log(
    `slow remote NBD server (${delayMs} ms each way): reads took ${
      reads.map((ms) => (ms / 1000).toFixed(2)).join(", ")
    } s; never judged, never yanked (--hang-after ${hangAfterS})`,
  );
});

Deno.test("a migration whose remote target is cut off mid-way: watch --stall-after fails it, the VM runs on, a new migration after the heal completes", async () => {
  await using net = await NetLab.create();
  const target = await net.addHost("target");
  const memory = ["-m", "2G"];
  // The first target; it stays waiting for the rest of the migration after the cut.
  await net.startQemu(
    { args: [...memory, "-incoming", `tcp:${target.address}:4444`] },
    target,
  );
  const source = await net.startQemu({ monitors: 2, args: memory });
  const setup = await net.lab.qmp(source.extraSockets[0]!);
  const stallAfterS = 3;
  await using watch = await net.startWatch({
    socket: source.socket,
    migration: true,
    interval: 0.5,
    hangAfter: 5,
    stallAfter: stallAfterS,
  });
  // 256 KiB/s: 2 GiB of zero pages keep it active for well over the seconds this needs.
  await setup.execute("migrate-set-parameters", { "max-bandwidth": 256 << 10 });
  await setup.execute("migrate", { uri: `tcp:${target.address}:4444` });
  const transferred = async () =>
    ((await setup.execute("query-migrate")) as { ram?: { transferred: number } }).ram
      ?.transferred ?? 0;
  assert.ok(await eventually(async () => await transferred() > 256 << 10, 10_000));
  assert.equal(await migrationStatus(setup), "active");

  await net.blackhole(target);
  const cutAt = performance.now();
  const cutAtWall = Date.now();
  const stalled = await watch.waitForLine(/state=stalled/, 60_000);
  assert.match(stalled, /migration/);
  const yanking = await watch.waitForLine(/state=yanking/);
  assert.match(yanking, /yanking migration \(peer judged dead\)/);
  assert.ok(await eventually(async () => await migrationStatus(setup) === "failed", 5000));
  const failedMs = performance.now() - cutAt;
  const judged = watch.lines.find((line) => /state=judged .*judged dead/.test(line)) ?? "";
  assert.match(judged, /unacknowledged .*(retransmission|zero window)/);
  assert.ok(!watch.lines.some((line) => /state=hung/.test(line)), watch.lines.join("\n"));
  // The source VM kept running through it all.
  assert.equal((await setup.execute("query-status") as { status: string }).status, "running");
  console.log(
    `migration target cut off: stall logged ${
      ((logTime(stalled) - cutAtWall) / 1000).toFixed(2)
    } s after the cut (--stall-after ${stallAfterS}); migration failed ${
      (failedMs / 1000).toFixed(2)
    } s after the cut; ${judged.replace(/^.*msg=/, "")}`,
  );

  // After the heal, a migration to a fresh target completes.
  await net.heal(target);
  const second = await net.startQemu(
    { args: [...memory, "-incoming", `tcp:${target.address}:4445`] },
    target,
  );
  await setup.execute("migrate-set-parameters", { "max-bandwidth": 1 << 30 });
  await setup.execute("migrate", { uri: `tcp:${target.address}:4445` });
  assert.ok(
    await eventually(async () => await migrationStatus(setup) === "completed", 60_000),
    `migration status ${await migrationStatus(setup)}`,
  );
  const arrived = await net.lab.qmp(second.socket);
  assert.ok(
    await eventually(async () =>
      (await arrived.execute("query-status") as { status: string }).status === "running"
    ),
    "the new target does not run",
  );
  assert.equal(
    watch.lines.filter((line) => /state=yanking/.test(line)).length,
    1,
    watch.lines.join("\n"),
  );
});
