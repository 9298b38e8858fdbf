/**
 * The kernel's evidence about dead peers, against real NBD servers of every kind QEMU meets:
 * qemu-storage-daemon and nbdkit on unix sockets, qemu-nbd on unix and on TCP (127.0.0.1). One
 * QEMU holds a node on each; the peers are judged with what watch runs on a hang
 * (`judgeDeadPeers` over a `PeerBook` that learnt the peers while the main loop answered and
 * found QEMU's pid from its monitor socket). A server frozen while QEMU's main loop waits on
 * its reply is judged dead, and only that one; healthy idle servers are judged alive, including a
 * qemu-nbd that refuses a second client a handshake.
 */

import assert from "node:assert/strict";
import type { QmpClient } from "../lib/qmp/client.ts";
import { PeerBook } from "../lib/watch/peer_book.ts";
import { judgeDeadPeers } from "../lib/watch/recover.ts";
import { queryYank } from "../lib/yank/yank.ts";
import { describeInstances } from "../lib/yank/instances.ts";
import { runSs } from "../lib/liveness/sample.ts";
import { parseSs } from "../lib/liveness/ss.ts";
import { eventually, type LabProcess, QemuLab, readInMainLoop } from "./support/qemu_lab.ts";

/** One NBD node of the QEMU under test and the server behind it. */
interface NodeOnServer {
  node: string;
  /** What the server is, for messages. */
  kind: string;
  server: LabProcess;
  /** QEMU's `server` argument of blockdev-add, and the export when it is not the default. */
  address: Record<string, string>;
  export?: string;
}

/** Judges every NBD node as watch does on a hang: the dead nodes and the logged verdicts. */
async function judge(book: PeerBook, client: QmpClient): Promise<{
  dead: string[];
  lines: string[];
}> {
  const instances = await queryYank(client);
  const lines: string[] = [];
  const dead = await judgeDeadPeers(
    {
      peers: book,
      selectors: { chardev: [], blockNode: ["*"], migration: false },
      log: (_state, message) => lines.push(message),
    },
    instances,
    instances,
    {},
  );
  return { dead: dead.map((d) => describeInstances([d])), lines };
}

/** Whether `server` has a connection with data it has not read, as ss reports it. */
async function unreadBy(server: LabProcess): Promise<boolean> {
  const sockets = parseSs(await runSs(["-xtnpH"]));
  return sockets.some((s) => s.pids.includes(server.pid) && s.rxQueue > 0);
}

/** The verdict line of `node`, which must be there exactly once. */
function verdictOf(lines: readonly string[], node: string): string {
  const found = lines.filter((l) => l.includes(`block-node "${node}"`));
  assert.equal(found.length, 1, `one verdict for ${node}:\n${lines.join("\n")}`);
  return found[0]!;
}

Deno.test("peers are judged from the kernel's evidence for qemu-storage-daemon, nbdkit and qemu-nbd on unix and TCP", async (t) => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu({ monitors: 2 });
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  const watchClient = await lab.qmp(qemu.socket);

  const qsd = await lab.startStorageDaemon(1);
  const kit = await lab.startNbdkit(1);
  const tcp = await lab.startNbdTcp(1);
  const unix = await lab.startNbd(1);
  const nodes: NodeOnServer[] = [
    {
      node: "qsd0",
      kind: "qemu-storage-daemon (unix)",
      server: qsd.process,
      address: { type: "unix", path: qsd.socket },
      export: qsd.export,
    },
    {
      node: "kit0",
      kind: "nbdkit (unix)",
      server: kit.process,
      address: { type: "unix", path: kit.socket },
    },
    {
      node: "tcp0",
      kind: "qemu-nbd (TCP)",
      server: tcp.process,
      address: { type: "inet", host: "127.0.0.1", port: String(tcp.port) },
    },
    {
      node: "nbd0",
      kind: "qemu-nbd (unix)",
      server: unix.process,
      address: { type: "unix", path: unix.socket },
    },
  ];
  for (const { node, address, export: name } of nodes) {
    await setup.execute("blockdev-add", {
      driver: "nbd",
      "node-name": node,
      server: address,
      ...(name === undefined ? {} : { export: name }),
    });
  }

  // What watch learns while the main loop answers: QEMU's pid and every node's server.
  const book = new PeerBook({ now: () => performance.now(), timeoutMs: 10_000 });
  const located = await book.locate(qemu.socket);
  assert.deepEqual(located, { pid: qemu.process.pid });
  await book.refreshIfDue(watchClient);

  await t.step("every healthy, idle server is judged alive", async () => {
    const { dead, lines } = await judge(book, watchClient);
    assert.deepEqual(dead, []);
    for (const { node, kind } of nodes) {
      assert.match(verdictOf(lines, node), /judged alive: no data of QEMU's is waiting/, kind);
    }
  });

  await t.step(
    "a qemu-nbd that serves QEMU and refuses a second client a handshake is judged alive",
    async () => {
      // qemu-nbd serves one client at a time (--shared=1): a second connection is accepted by
      // the kernel but gets no greeting, just as from a frozen server.
      using second = await Deno.connect({ transport: "unix", path: unix.socket });
      const greeting = second.read(new Uint8Array(8)).catch(() => null);
      const quiet = await Promise.race([
        greeting.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300)),
      ]);
      assert.ok(quiet, "qemu-nbd greeted a second client (is --shared=1 still its default?)");
      const { dead, lines } = await judge(book, watchClient);
      assert.deepEqual(dead, []);
      assert.match(verdictOf(lines, "nbd0"), /judged alive/);
    },
  );

  for (const frozen of nodes) {
    await t.step(
      `${frozen.kind}, frozen while QEMU waits on a read, is the only peer judged dead`,
      async () => {
        await frozen.server.freeze();
        let read: Promise<unknown> | undefined;
        try {
          read = readInMainLoop(setup, frozen.node);
          // In-band commands on one monitor run in order: a query-status queued behind the read
          // that goes unanswered shows QEMU is waiting on the read (its request was sent).
          const probe = await setup.execute("query-status", undefined, { timeoutMs: 500 }).then(
            () => "answered",
            (error) => error,
          );
          assert.notEqual(probe, "answered", "the read did not wait on the frozen server");
          // On a loaded machine QEMU may not have sent the request yet: wait until it arrived.
          assert.ok(await eventually(() => unreadBy(frozen.server)), "the request never arrived");
          const { dead, lines } = await judge(book, watchClient);
          assert.deepEqual(dead, [`block-node "${frozen.node}"`], lines.join("\n"));
          assert.match(
            verdictOf(lines, frozen.node),
            /judged dead: \d+ byte\(s\) QEMU sent sat unread in the peer's receive queue for \d+ ms/,
          );
          for (const other of nodes.filter((n) => n !== frozen)) {
            assert.match(verdictOf(lines, other.node), /judged alive/, other.kind);
          }
        } finally {
          frozen.server.thaw();
          await read;
        }
        // Thawed, the server answers the read; with nothing left waiting it is alive again.
        const { dead, lines } = await judge(book, watchClient);
        assert.deepEqual(dead, []);
        assert.match(verdictOf(lines, frozen.node), /judged alive/);
      },
    );
  }
});
