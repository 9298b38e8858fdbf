/**
 * The options of block nodes as QEMU reports them (`query-named-block-nodes`), turned into what
 * blockdev-add and blockdev-reopen take for a fresh twin: QEMU 7.2 reports no driver options
 * but read-only, cache and detect-zeroes, and the rest only through a `json:` filename.
 */

import { isJsonObject } from "../qmp/json_object.ts";
import { type NbdPeer, parseNbdFilename } from "./describe_peers.ts";

/** An NBD node as `query-named-block-nodes` reports it. */
export interface NbdNodeInfo {
  name: string;
  peer: NbdPeer;
  /** blockdev-add's options for a fresh node with the same server, export and options. */
  options: Record<string, unknown>;
}

/** One node of a `query-named-block-nodes` reply. */
export type BlockNodeRecord = Record<string, unknown> & { "node-name": string };

/** The nodes of a `query-named-block-nodes` reply, by name. */
export function recordsOf(reply: unknown): Map<string, BlockNodeRecord> {
  const result = new Map<string, BlockNodeRecord>();
  if (!Array.isArray(reply)) return result;
  for (const item of reply) {
    if (isJsonObject(item) && typeof item["node-name"] === "string") {
      result.set(item["node-name"], item as BlockNodeRecord);
    }
  }
  return result;
}

/**
 * The options every node shares that QEMU reports (read-only, cache, detect-zeroes), as
 * blockdev-add and blockdev-reopen take them; blockdev-reopen resets what it is not given.
 */
function commonOptions(record: BlockNodeRecord): Record<string, unknown> {
  const options: Record<string, unknown> = { "read-only": record.ro === true };
  const cache = isJsonObject(record.cache) ? record.cache : {};
  options.cache = { direct: cache.direct === true, "no-flush": cache["no-flush"] === true };
  if (typeof record.detect_zeroes === "string") options["detect-zeroes"] = record.detect_zeroes;
  return options;
}

/** The driver options a `json:` filename carries for the node itself (not its children). */
function jsonOptions(filename: unknown): Record<string, unknown> {
  if (typeof filename !== "string" || !filename.startsWith("json:")) return {};
  try {
    const parsed = JSON.parse(filename.slice("json:".length));
    return isJsonObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** An NBD node's blockdev-add options: server and export from its filename, kept verbatim. */
export function nbdNodeInfo(record: BlockNodeRecord): NbdNodeInfo | undefined {
  if (record.drv !== "nbd" || typeof record.file !== "string") return undefined;
  const peer = parseNbdFilename(record.file);
  if (peer === undefined || peer.server.type === "other") return undefined;
  const json = jsonOptions(record.file);
  const options: Record<string, unknown> = {
    ...json,
    driver: "nbd",
    server: json.server ?? peer.server,
    ...(peer.export === undefined ? {} : { export: peer.export }),
    ...commonOptions(record),
  };
  delete options["node-name"];
  return { name: record["node-name"], peer, options };
}

/** A parent's blockdev-reopen options: its driver, name, reported options and json extras. */
export function parentOptions(record: BlockNodeRecord): Record<string, unknown> {
  const json = jsonOptions(record.file);
  // Of a json: filename only the parent's own scalar options (raw's offset and size) count.
  const own = Object.fromEntries(
    Object.entries(json).filter(([key, value]) =>
      typeof value !== "object" && !["driver", "node-name"].includes(key)
    ),
  );
  return { ...own, driver: record.drv, "node-name": record["node-name"], ...commonOptions(record) };
}
