/**
 * Peer judgement from ss's output (lines as ss 6.1 printed them for QEMU 7.2 and a frozen
 * qemu-nbd): parsing, matching QEMU's connections to a peer, and the verdict.
 */

import assert from "node:assert/strict";
import { parseSs } from "../lib/liveness/ss.ts";
import {
  connectionsOf,
  judgePeer,
  type PeerEndpoint,
  type SocketSnapshot,
} from "../lib/liveness/judge.ts";

const PATH = "/tmp/yank-lab-604af800e0f5923/nbd2.sock";

/** QEMU (pid 25515, inode 69109) connected to qemu-nbd's socket 69110, `unread` bytes waiting. */
function unixSnapshot(unread: number): SocketSnapshot {
  const text = [
    `u_str ESTAB  0      768   * 69109 * 69110 users:(("qemu-system-x86",pid=25515,fd=14)) ---`,
    `u_str LISTEN 0      4096  ${PATH} 69102 * 0 users:(("qemu-nbd",pid=25543,fd=5)) ---`,
    `u_str ESTAB  ${unread}     0     ${PATH} 69110 * 69109 users:(("qemu-nbd",pid=25543,fd=6)) ---`,
  ].join("\n");
  const all = parseSs(text);
  return {
    qemu: all.filter((s) => s.pids.includes(25515)),
    unixByInode: new Map(all.map((s) => [s.inode, s])),
    tcp: [],
  };
}

function tcpSnapshot(unacked: number, timer: string): SocketSnapshot {
  const all = parseSs(
    `tcp   ESTAB      0      ${unacked}   10.0.0.1:51000   10.0.0.2:4444  ${timer} ino:4242 sk:1 <->`,
  );
  return { qemu: all, unixByInode: new Map(), tcp: all };
}

const NBD: PeerEndpoint = { transport: "unix", path: PATH, qemuListens: false };
const CHARDEV: PeerEndpoint = {
  transport: "tcp",
  remote: "10.0.0.2:4444",
  remotePort: "4444",
  local: "10.0.0.1:51000",
};

Deno.test("parseSs() reads unix and TCP rows", () => {
  const [qemu, , server] = unixSnapshot(28).unixByInode!.values();
  assert.deepEqual(
    [qemu!.inode, qemu!.local, qemu!.peerInode, qemu!.pids],
    ["69109", "", "69110", [25515]],
  );
  assert.deepEqual([server!.local, server!.rxQueue], [PATH, 28]);
  const [tcp] = parseSs(
    "tcp   ESTAB 0 1448 [::ffff:127.0.0.1]:40000 [::1]:4444 timer:(on,408ms,3) uid:0 ino:77 sk:9 <->",
  );
  assert.deepEqual(
    [tcp!.local, tcp!.remote, tcp!.txQueue, tcp!.timer, tcp!.retransmits, tcp!.inode],
    ["127.0.0.1:40000", "[::1]:4444", 1448, "on", 3, "77"],
  );
});

Deno.test("judgePeer() calls a peer dead only on data that stays unread or unacknowledged", async (t) => {
  const judge = (snapshots: SocketSnapshot[], endpoint: PeerEndpoint) =>
    judgePeer(snapshots.map((s) => connectionsOf(endpoint, s)), 200);

  await t.step("a request unread by a frozen qemu-nbd in every sample: dead", () => {
    const verdict = judge([unixSnapshot(28), unixSnapshot(28), unixSnapshot(28)], NBD);
    assert.equal(verdict.state, "dead");
    assert.match(
      verdict.evidence,
      /^28 byte\(s\) QEMU sent sat unread in the peer's receive queue/,
    );
  });
  await t.step("data that drains, or none at all: alive", () => {
    assert.equal(judge([unixSnapshot(28), unixSnapshot(0), unixSnapshot(0)], NBD).state, "alive");
    assert.equal(judge([unixSnapshot(56), unixSnapshot(28), unixSnapshot(28)], NBD).state, "alive");
    const idle = judge([unixSnapshot(0), unixSnapshot(0), unixSnapshot(0)], NBD);
    assert.deepEqual(idle, { state: "alive", evidence: "no data of QEMU's is waiting for it" });
  });
  await t.step("no connection to the peer: unknown", () => {
    const other: PeerEndpoint = { transport: "unix", path: "/elsewhere.sock", qemuListens: false };
    assert.equal(judge([unixSnapshot(28), unixSnapshot(28)], other).state, "unknown");
  });
  await t.step("a remote TCP peer: dead only with retransmissions or a closed window", () => {
    const quiet = judge([tcpSnapshot(1448, ""), tcpSnapshot(1448, "")], CHARDEV);
    assert.equal(quiet.state, "unknown");
    const retrying = judge(
      [tcpSnapshot(1448, "timer:(on,200ms,1)"), tcpSnapshot(1448, "timer:(on,400ms,2)")],
      CHARDEV,
    );
    assert.equal(retrying.state, "dead");
    assert.match(retrying.evidence, /unacknowledged for 200 ms, 2 retransmission\(s\)/);
    const closed = judge(
      [tcpSnapshot(9000, "timer:(persist,200ms,0)"), tcpSnapshot(9000, "timer:(persist,1s,0)")],
      CHARDEV,
    );
    assert.match(closed.evidence, /receive window stayed closed/);
  });
});
