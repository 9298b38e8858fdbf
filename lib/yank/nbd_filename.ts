/**
 * An NBD node's server and export from the filename QEMU reports for it, the one place QEMU 7.2
 * says them: no query returns an nbd node's options.
 */

import { isJsonObject } from "../qmp/json_object.ts";
import type { NbdPeer, PeerAddress, PeerOptions } from "./describe_peers.ts";

const DEFAULT_NBD_PORT = "10809";
const UNIX_PREFIX = "nbd+unix://";
const INET_PREFIX = "nbd://";
const SOCKET_PARAM = "?socket=";

/**
 * An NBD node's server from its filename, in exactly the forms QEMU's `nbd_refresh_filename`
 * (block/nbd.c) writes with snprintf, unescaped: `nbd+unix:///EXPORT?socket=PATH`,
 * `nbd+unix://?socket=PATH`, `nbd://HOST:PORT/EXPORT`, `nbd://HOST:PORT` (an IPv6 host is
 * written bare; brackets are read too), or `json:{...}` when the options do not fit a URI
 * (a server given as an fd, an inet one with ipv4, ipv6 or to; TLS credentials do not change
 * the form, and a URI longer than QEMU's 4096-byte buffer becomes `json:` too, itself cut at
 * 4095 bytes when still too long). Nothing is URL-decoded: `%` and `+` are the name's own.
 * An export or a socket path may hold `?socket=` too, so each place it occurs is a possible
 * split: the one whose path `options.isSocket` confirms wins, else the first whose path is
 * absolute (QEMU is nearly always given one), else the first.
 */
export function parseNbdFilename(
  filename: string,
  options: PeerOptions = {},
): NbdPeer | undefined {
  if (filename.startsWith("json:")) return parseNbdJson(filename);
  const peer = (server: PeerAddress, exportName: string | undefined): NbdPeer =>
    exportName === undefined || exportName === ""
      ? { kind: "nbd", server, filename }
      : { kind: "nbd", server, export: exportName, filename };
  if (filename.startsWith(UNIX_PREFIX)) {
    const rest = filename.slice(UNIX_PREFIX.length);
    const splits: { exportName: string; path: string }[] = [];
    for (let at = rest.indexOf(SOCKET_PARAM); at >= 0; at = rest.indexOf(SOCKET_PARAM, at + 1)) {
      const head = rest.slice(0, at);
      const path = rest.slice(at + SOCKET_PARAM.length);
      if ((head === "" || head.startsWith("/")) && path !== "") {
        splits.push({ exportName: head.slice(1), path });
      }
    }
    const isSocket = options.isSocket;
    const chosen = (isSocket && splits.find((s) => isSocket(s.path))) ??
      splits.find((s) => s.path.startsWith("/")) ?? splits[0];
    return chosen && peer({ type: "unix", path: chosen.path }, chosen.exportName);
  }
  if (filename.startsWith(INET_PREFIX)) {
    const rest = filename.slice(INET_PREFIX.length);
    // A host and port hold no `/`; the export is everything after the first one.
    const slash = rest.indexOf("/");
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const exportName = slash < 0 ? undefined : rest.slice(slash + 1);
    const colon = authority.lastIndexOf(":");
    const host = colon < 0 ? authority : authority.slice(0, colon);
    const port = colon < 0 ? DEFAULT_NBD_PORT : authority.slice(colon + 1);
    const bare = host.replace(/^\[(.*)\]$/, "$1");
    if (bare === "" || port === "") return undefined;
    return peer({ type: "inet", host: bare, port }, exportName);
  }
  return undefined;
}

function parseNbdJson(filename: string): NbdPeer | undefined {
  const options = readJsonOptions(filename.slice("json:".length));
  // The nbd options may be the node's own or those of its file child.
  for (let prefix = ""; options.has(`${prefix}driver`); prefix += "file.") {
    if (options.get(`${prefix}driver`) !== "nbd") continue;
    const get = (key: string) => options.get(`${prefix}${key}`);
    const type = get("server.type");
    const path = get("server.path");
    const host = get("server.host");
    let address: PeerAddress | undefined;
    if ((type === "unix" || type === undefined) && typeof path === "string") {
      address = { type: "unix", path };
    } else if ((type === "inet" || type === undefined) && typeof host === "string") {
      address = { type: "inet", host, port: String(get("server.port") ?? DEFAULT_NBD_PORT) };
    }
    if (address === undefined) return undefined;
    const exportName = get("export");
    return typeof exportName === "string" && exportName !== ""
      ? { kind: "nbd", server: address, export: exportName, filename }
      : { kind: "nbd", server: address, filename };
  }
  return undefined;
}

/**
 * The options of a `json:` filename as dotted keys (`server.path`), whether QEMU wrote them
 * nested or, as it does for a node's options, flat. QEMU cuts a filename at 4095 bytes, so a
 * cut object yields the key-value pairs written whole before the cut; a value cut short (a long
 * export) is left out, not guessed.
 */
function readJsonOptions(text: string): Map<string, unknown> {
  const options = new Map<string, unknown>();
  const flatten = (value: unknown, prefix: string) => {
    if (isJsonObject(value)) {
      for (const [key, child] of Object.entries(value)) flatten(child, `${prefix}${key}.`);
    } else {
      options.set(prefix.slice(0, -1), value);
    }
  };
  try {
    flatten(JSON.parse(text), "");
    return options;
  } catch {
    // Cut short: read the whole pairs at the top level, up to the cut.
  }
  const pair =
    /\s*("(?:[^"\\]|\\.)*")\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)\s*[,}]/y;
  pair.lastIndex = text.startsWith("{") ? 1 : text.length;
  for (let match = pair.exec(text); match !== null; match = pair.exec(text)) {
    options.set(JSON.parse(match[1]!), JSON.parse(match[2]!));
  }
  return options;
}
