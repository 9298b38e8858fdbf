/**
 * What is on the other end of each yank instance, read from QEMU's own in-band queries: a
 * chardev's address (`query-chardev`), an NBD node's server and export
 * (`query-named-block-nodes`), the migration's status (`query-migrate`), and the guest disk a
 * block node backs (`query-block`). Pure parsing: the replies come in, peers come out.
 */

import { isJsonObject } from "../qmp/json_object.ts";
import { instanceName, type YankInstance } from "./instances.ts";
import { parseNbdFilename } from "./nbd_filename.ts";

export { parseNbdFilename };

/** A socket address in QEMU's own `SocketAddress` shape (the kinds yank can tell apart). */
export type PeerAddress =
  | { type: "unix"; path: string }
  | { type: "inet"; host: string; port: string }
  | { type: "other"; text: string };

/** A socket chardev's ends, as `query-chardev` names them in `filename`. */
export interface ChardevPeer {
  kind: "chardev";
  /** `tcp`, `unix`, `telnet`, `websocket`, ... */
  protocol: string;
  /** QEMU listens (`server=on`); otherwise it is the client. */
  listening: boolean;
  connected: boolean;
  /** QEMU's end: the listening address, or its own TCP address when connected. */
  local?: PeerAddress;
  /** The other end: the server QEMU connects to, or a connected client's TCP address. */
  remote?: PeerAddress;
  /** QEMU's own text. */
  filename: string;
}

/** An NBD node's server. */
export interface NbdPeer {
  kind: "nbd";
  server: PeerAddress;
  /** The export name, when not the default (empty) one. */
  export?: string;
  /** The node's filename as QEMU reports it. */
  filename: string;
}

/** The running migration. QEMU 7.2's `query-migrate` does not name an outgoing target. */
export interface MigrationPeer {
  kind: "migration";
  status: string;
  /** RAM bytes sent so far. */
  transferred?: number;
}

/** What is behind one yank instance. */
export type Peer = ChardevPeer | NbdPeer | MigrationPeer;

/** The peer and guest disk of an instance; undefined where unknown or not applicable. */
export interface InstancePeer {
  peer: Peer | undefined;
  /** The guest device the block node backs (its id, or its qdev path). */
  disk: string | undefined;
}

/** The in-band commands whose replies `describePeers` reads, in the order it takes them. */
export const PEER_QUERIES = [
  { command: "query-chardev" },
  { command: "query-named-block-nodes", arguments: { flat: true } },
  { command: "query-block" },
  { command: "query-migrate" },
] as const;

/** Replies to PEER_QUERIES, by command name. A missing reply means "unknown". */
export interface PeerReplies {
  "query-chardev"?: unknown;
  "query-named-block-nodes"?: unknown;
  "query-block"?: unknown;
  "query-migrate"?: unknown;
}

/** A map key for an instance: `chardev:ID`, `block-node:NAME`, `migration:`. */
export function instanceKey(instance: YankInstance): string {
  return `${instance.type}:${instanceName(instance)}`;
}

/** Options of `describePeers` and `parseNbdFilename`. */
export interface PeerOptions {
  /**
   * Whether a path names a unix socket, to tell an NBD export holding `?socket=` from a socket
   * path holding it; without it an absolute path is taken for the socket's.
   */
  isSocket?: (path: string) => boolean;
}

/** Finds, for every instance, its peer and disk in the replies. */
export function describePeers(
  instances: readonly YankInstance[],
  replies: PeerReplies,
  options: PeerOptions = {},
): Map<string, InstancePeer> {
  const chardevs = parseChardevs(replies["query-chardev"]);
  const nodes = parseBlockNodes(replies["query-named-block-nodes"]);
  const disks = findDisks(replies["query-block"], nodes);
  const migration = parseMigration(replies["query-migrate"]);
  const result = new Map<string, InstancePeer>();
  for (const instance of instances) {
    const key = instanceKey(instance);
    switch (instance.type) {
      case "chardev":
        result.set(key, { peer: chardevs.get(instance.id), disk: undefined });
        break;
      case "block-node": {
        const node = nodes.get(instance["node-name"]);
        const peer = node?.drv === "nbd" ? parseNbdFilename(node.filename, options) : undefined;
        result.set(key, { peer, disk: disks.get(instance["node-name"]) });
        break;
      }
      case "migration":
        result.set(key, { peer: migration, disk: undefined });
        break;
    }
  }
  return result;
}

/** Chardev peers by label, from `query-chardev`. */
export function parseChardevs(reply: unknown): Map<string, ChardevPeer> {
  const result = new Map<string, ChardevPeer>();
  if (!Array.isArray(reply)) return result;
  for (const item of reply) {
    if (!isJsonObject(item) || typeof item.label !== "string") continue;
    if (typeof item.filename !== "string") continue;
    const peer = parseChardevFilename(item.filename);
    if (peer) result.set(item.label, peer);
  }
  return result;
}

/**
 * Reads a socket chardev's `filename`, in the forms QEMU's chardev/char-socket.c writes:
 * `PROTO:LHOST:LPORT[,server=on] <-> RHOST:RPORT` for a connected TCP socket,
 * `unix:PATH[,abstract[,tight]][,server=on]` for a unix one, each after `disconnected:` when
 * no peer is connected. A unix path is taken whole, as QEMU writes it (spaces, commas, ` <-> `,
 * newlines and all); only the flags QEMU appends are read off its end. Undefined for other
 * chardev kinds.
 */
export function parseChardevFilename(filename: string): ChardevPeer | undefined {
  let text = filename;
  const connected = !text.startsWith("disconnected:");
  if (!connected) text = text.slice("disconnected:".length);
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  const protocol = text.slice(0, colon);
  if (!/^(tcp|unix|telnet|tn3270|websocket|vsock|fd)$/.test(protocol)) return undefined;
  const peer: ChardevPeer = { kind: "chardev", protocol, listening: false, connected, filename };
  const rest = text.slice(colon + 1);
  if (protocol === "unix") {
    const { path, listening } = splitUnixFlags(rest);
    peer.listening = listening;
    if (listening) peer.local = { type: "unix", path };
    else peer.remote = { type: "unix", path };
    return peer;
  }
  const arrow = rest.indexOf(" <-> ");
  if (arrow >= 0) {
    // Only a connected inet socket has both ends.
    const { address, listening } = splitServerFlag(rest.slice(0, arrow));
    peer.listening = listening;
    peer.local = parseHostPort(address);
    peer.remote = parseHostPort(rest.slice(arrow + 5));
    return peer;
  }
  const { address, listening } = splitServerFlag(rest);
  peer.listening = listening;
  const where: PeerAddress = protocol === "fd" || protocol === "vsock"
    ? { type: "other", text: `${protocol}:${address}` }
    : parseHostPort(address);
  if (listening) peer.local = where;
  else peer.remote = where;
  return peer;
}

/** A unix chardev's path and the flags QEMU appends to it, read off the end. */
function splitUnixFlags(text: string): { path: string; listening: boolean } {
  const match = /^([\s\S]*?)(,abstract(?:,tight)?)?(,server=on|,server)?$/.exec(text);
  return match ? { path: match[1]!, listening: match[3] !== undefined } : {
    path: text,
    listening: false,
  };
}

function splitServerFlag(text: string): { address: string; listening: boolean } {
  const match = /^([\s\S]*?)((?:,[a-z-]+(?:=[^,]*)?)*)$/.exec(text);
  if (!match) return { address: text, listening: false };
  const flags = match[2]!.split(",").filter((f) => f !== "");
  const listening = flags.some((f) => f === "server" || f === "server=on");
  return { address: match[1]!, listening };
}

/** `HOST:PORT`, `[V6]:PORT` or a bare IPv6 `::1:PORT` (port after the last colon). */
function parseHostPort(text: string): PeerAddress {
  const bracketed = /^\[([^\]]*)\]:([^:]+)$/.exec(text);
  if (bracketed) return { type: "inet", host: bracketed[1]!, port: bracketed[2]! };
  const last = text.lastIndexOf(":");
  if (last <= 0) return { type: "other", text };
  return { type: "inet", host: text.slice(0, last), port: text.slice(last + 1) };
}

/** A block node as `query-named-block-nodes` reports it, reduced to what peers need. */
interface BlockNode {
  drv: string;
  filename: string;
}

function parseBlockNodes(reply: unknown): Map<string, BlockNode> {
  const result = new Map<string, BlockNode>();
  if (!Array.isArray(reply)) return result;
  for (const item of reply) {
    if (!isJsonObject(item) || typeof item["node-name"] !== "string") continue;
    const image = isJsonObject(item.image) ? item.image : {};
    const filename = typeof item.file === "string"
      ? item.file
      : typeof image.filename === "string"
      ? image.filename
      : "";
    result.set(item["node-name"], { drv: typeof item.drv === "string" ? item.drv : "", filename });
  }
  return result;
}

/**
 * The guest device behind each NBD node. `query-block` names the top node of each device's
 * chain; QEMU 7.2 lists no child node names, but a format or filter node reports its protocol
 * child's filename as its own, so an NBD node whose filename is the top node's (and no other
 * NBD node's) is the one below it.
 */
function findDisks(reply: unknown, nodes: Map<string, BlockNode>): Map<string, string> {
  const result = new Map<string, string>();
  if (!Array.isArray(reply)) return result;
  const nbdByFilename = new Map<string, string[]>();
  for (const [name, node] of nodes) {
    if (node.drv !== "nbd" || node.filename === "") continue;
    nbdByFilename.set(node.filename, [...nbdByFilename.get(node.filename) ?? [], name]);
  }
  for (const item of reply) {
    if (!isJsonObject(item) || !isJsonObject(item.inserted)) continue;
    const disk = diskName(item);
    const top = item.inserted["node-name"];
    if (disk === undefined || typeof top !== "string") continue;
    result.set(top, disk);
    const filename = nodes.get(top)?.filename ??
      (typeof item.inserted.file === "string" ? item.inserted.file : "");
    const below = nbdByFilename.get(filename);
    if (below?.length === 1 && !result.has(below[0]!)) result.set(below[0]!, disk);
  }
  return result;
}

function diskName(block: Record<string, unknown>): string | undefined {
  if (typeof block.device === "string" && block.device !== "") return block.device;
  if (typeof block.qdev !== "string" || block.qdev === "") return undefined;
  // "/machine/peripheral/virtio-disk0/virtio-backend": the device's id is "virtio-disk0".
  const id = /^\/machine\/peripheral\/([^/]+)/.exec(block.qdev);
  return id ? id[1]! : block.qdev;
}

function parseMigration(reply: unknown): MigrationPeer | undefined {
  if (!isJsonObject(reply) || typeof reply.status !== "string") return undefined;
  const ram = isJsonObject(reply.ram) ? reply.ram : {};
  return typeof ram.transferred === "number"
    ? { kind: "migration", status: reply.status, transferred: ram.transferred }
    : { kind: "migration", status: reply.status };
}
