/**
 * Whether a peer is dead, judged from what the kernel reports for QEMU's own connections to it,
 * sampled a few times over a short bound. A peer is dead only when QEMU has sent it data that it
 * neither read nor acknowledged, and that data does not drain: a healthy peer reads within
 * microseconds, and an idle peer has nothing waiting (so nothing says it is dead). A stopped
 * process's kernel still accepts connections and acknowledges TCP data, so new connections and
 * handshakes prove nothing; the data sits unread in the peer's receive queue, where this looks.
 */

import type { KernelSocket } from "./ss.ts";

/** Where QEMU's connection to a peer is found among its sockets. */
export type PeerEndpoint =
  | { transport: "unix"; path: string; qemuListens: boolean }
  | { transport: "tcp"; remote: string | undefined; remotePort: string; local: string | undefined }
  /** The migration: QEMU 7.2 does not name its target, so its connections are those no other peer claims. */
  | { transport: "unclaimed" };

/** What the kernel showed at one moment: QEMU's sockets and the others they may connect to. */
export interface SocketSnapshot {
  /** QEMU's own sockets (its fds), unix and TCP. */
  qemu: KernelSocket[];
  /** Every unix stream socket by inode (to find a peer's end); undefined if unknown (no ss). */
  unixByInode: Map<string, KernelSocket> | undefined;
  /** Every TCP socket in QEMU's network namespace (to find a loopback peer's end). */
  tcp: KernelSocket[];
}

/** QEMU's connection to a peer, and the peer's end when it is on this host. */
export interface Connection {
  qemu: KernelSocket;
  peer: KernelSocket | undefined;
}

/** QEMU's connections to `endpoint`; `claimed` holds inodes other endpoints matched. */
export function connectionsOf(
  endpoint: PeerEndpoint,
  snapshot: SocketSnapshot,
  claimed: ReadonlySet<string> = new Set(),
): Connection[] {
  const established = snapshot.qemu.filter((s) => s.state === "ESTAB");
  const unixPeer = (s: KernelSocket) => snapshot.unixByInode?.get(s.peerInode);
  const tcpPeer = (s: KernelSocket) =>
    snapshot.tcp.find((t) => t.local === s.remote && t.remote === s.local);
  switch (endpoint.transport) {
    case "unix":
      if (snapshot.unixByInode === undefined) return [];
      return established
        .filter((s) => s.transport === "unix")
        .filter((s) =>
          endpoint.qemuListens
            ? s.local === endpoint.path
            : s.local === "" && unixPeer(s)?.local === endpoint.path
        )
        .map((s) => ({ qemu: s, peer: unixPeer(s) }));
    case "tcp":
      return established
        .filter((s) => s.transport === "tcp")
        .filter((s) =>
          (endpoint.remote === undefined
            ? s.remote.endsWith(`:${endpoint.remotePort}`)
            : s.remote === endpoint.remote) &&
          (endpoint.local === undefined || s.local === endpoint.local)
        )
        .map((s) => ({ qemu: s, peer: tcpPeer(s) }));
    case "unclaimed":
      // QEMU's client connections that no other peer explains. Its server-side unix sockets
      // (monitors, listening chardevs) have a local path and are left out.
      return established
        .filter((s) => !claimed.has(s.inode))
        .filter((s) => s.transport === "tcp" || s.local === "")
        .filter((s) => s.transport === "tcp" || snapshot.unixByInode !== undefined)
        .map((s) => ({ qemu: s, peer: s.transport === "tcp" ? tcpPeer(s) : unixPeer(s) }));
  }
}

/** The judgement of one peer, with the evidence for the log. */
export interface PeerVerdict {
  state: "dead" | "alive" | "unknown";
  evidence: string;
}

/** Bytes QEMU sent that the peer has not taken, and how that is known. */
function pending(connection: Connection): { bytes: number; how: "unread" | "unacked" } {
  const { qemu, peer } = connection;
  if (peer !== undefined) {
    // The peer's receive queue (plus, for TCP, what is still in flight to it).
    return { bytes: peer.rxQueue + (qemu.transport === "tcp" ? qemu.txQueue : 0), how: "unread" };
  }
  // Unix: QEMU's send queue counts buffer memory, not bytes; only the peer's end is exact.
  return { bytes: qemu.transport === "tcp" ? qemu.txQueue : 0, how: "unacked" };
}

/**
 * Judges one peer from the same endpoint's connections in successive snapshots (oldest first),
 * `spanMs` apart from first to last. Dead when some connection had data waiting in every
 * snapshot and it never shrank; for a remote TCP peer (its end not visible) also only when the
 * kernel is retransmitting or probing a zero window.
 */
export function judgePeer(samples: readonly Connection[][], spanMs: number): PeerVerdict {
  const first = samples[0] ?? [];
  if (samples.length < 2 || first.length === 0) {
    return { state: "unknown", evidence: "QEMU has no connection to it that the kernel shows" };
  }
  let undecided: string | undefined;
  for (const connection of first) {
    const series = samples.map((sample) =>
      sample.find((c) => c.qemu.inode === connection.qemu.inode)
    );
    if (series.some((c) => c === undefined)) continue;
    const amounts = series.map((c) => pending(c!));
    const stuck = amounts.every((a, i) =>
      a.bytes > 0 && (i === 0 || a.bytes >= amounts[i - 1]!.bytes)
    );
    if (!stuck) continue;
    const last = series.at(-1)!;
    const { bytes, how } = amounts.at(-1)!;
    const ms = Math.round(spanMs);
    if (how === "unread") {
      return {
        state: "dead",
        evidence:
          `${bytes} byte(s) QEMU sent sat unread in the peer's receive queue for ${ms} ms (socket inode ${last.qemu.inode})`,
      };
    }
    const retrying = last.qemu.retransmits > 0 || last.qemu.timer === "on" ||
      last.qemu.timer === "persist";
    if (!retrying) {
      undecided =
        `${bytes} byte(s) QEMU sent stayed unacknowledged for ${ms} ms, without retransmissions yet`;
    } else {
      const why = last.qemu.timer === "persist"
        ? "the peer's receive window stayed closed (zero window probes)"
        : `${last.qemu.retransmits} retransmission(s)`;
      return {
        state: "dead",
        evidence:
          `${bytes} byte(s) QEMU sent stayed unacknowledged for ${ms} ms, ${why} (socket inode ${last.qemu.inode})`,
      };
    }
  }
  if (undecided !== undefined) return { state: "unknown", evidence: undecided };
  const waiting = first.some((c) => pending(c).bytes > 0);
  return {
    state: "alive",
    evidence: waiting
      ? `the data QEMU sent drained within ${Math.round(spanMs)} ms`
      : "no data of QEMU's is waiting for it",
  };
}
