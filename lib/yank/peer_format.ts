/**
 * A described peer in words: the PEER cell of `yank list`, its `--json` value, and an address as
 * yank's messages write it.
 */

import type { Peer, PeerAddress } from "./describe_peers.ts";

/** `unix:/run/x.sock`, `127.0.0.1:4444`, `[::1]:4444`. */
export function formatAddress(address: PeerAddress): string {
  switch (address.type) {
    case "unix":
      return `unix:${address.path}`;
    case "inet":
      return address.host.includes(":")
        ? `[${address.host}]:${address.port}`
        : `${address.host}:${address.port}`;
    case "other":
      return address.text;
  }
}

/** The PEER cell of `yank list`: the other end in a few words, "-" when unknown. */
export function formatPeer(peer: Peer | undefined): string {
  if (peer === undefined) return "-";
  switch (peer.kind) {
    case "chardev": {
      const proto = peer.protocol === "tcp" || peer.protocol === "unix" ? "" : `${peer.protocol} `;
      if (!peer.listening) {
        const to = peer.remote ? formatAddress(peer.remote) : "?";
        return `${proto}${to}${peer.connected ? "" : " (disconnected)"}`;
      }
      const on = peer.local ? formatAddress(peer.local) : "?";
      if (!peer.connected) return `${proto}${on} (listening, no client)`;
      return peer.remote
        ? `${proto}${formatAddress(peer.remote)} (client of ${on})`
        : `${proto}${on} (listening, connected)`;
    }
    case "nbd":
      return `${formatAddress(peer.server)}${
        peer.export === undefined ? "" : ` export ${peer.export}`
      }`;
    case "migration":
      return peer.transferred === undefined
        ? peer.status
        : `${peer.status}, ${formatBytes(peer.transferred)} sent`;
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** The `"peer"` value of `yank list --json`: the peer without yank's internal kind tag. */
export function peerJson(peer: Peer | undefined): Record<string, unknown> | null {
  if (peer === undefined) return null;
  const { kind: _kind, ...rest } = peer;
  return rest;
}
