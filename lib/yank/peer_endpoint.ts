/**
 * Where QEMU's connection to a described peer shows among the kernel's sockets: the bridge from
 * what QEMU says an instance connects to (describe_peers.ts) to what liveness judges.
 */

import type { Peer } from "./describe_peers.ts";
import type { PeerEndpoint } from "../liveness/judge.ts";
import { canonicalHostPort } from "../liveness/ss.ts";

/** The endpoint to look for, or undefined when the peer has no connection to judge. */
export function endpointOf(peer: Peer): PeerEndpoint | undefined {
  switch (peer.kind) {
    case "chardev": {
      if (!peer.connected) return undefined;
      const at = peer.listening ? peer.local : peer.remote;
      if (at?.type === "unix") {
        return { transport: "unix", path: at.path, qemuListens: peer.listening };
      }
      if (peer.remote?.type !== "inet") return undefined;
      return {
        transport: "tcp",
        remote: canonicalHostPort(peer.remote.host, peer.remote.port),
        remotePort: peer.remote.port,
        local: peer.local?.type === "inet"
          ? canonicalHostPort(peer.local.host, peer.local.port)
          : undefined,
      };
    }
    case "nbd": {
      const server = peer.server;
      if (server.type === "unix") {
        return { transport: "unix", path: server.path, qemuListens: false };
      }
      if (server.type !== "inet") return undefined;
      // A host name cannot be compared with the kernel's addresses: match the port alone.
      const literal = /^[\d.]+$|:/.test(server.host);
      return {
        transport: "tcp",
        remote: literal ? canonicalHostPort(server.host, server.port) : undefined,
        remotePort: server.port,
        local: undefined,
      };
    }
    case "migration":
      return peer.status === "active" || peer.status === "postcopy-active" ||
          peer.status === "pre-switchover" || peer.status === "device"
        ? { transport: "unclaimed" }
        : undefined;
  }
}
