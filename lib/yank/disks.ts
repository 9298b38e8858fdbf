/**
 * Disks and the block nodes behind them, so that a user can say `--disk vda` (or QEMU's device
 * id `virtio-disk0`) rather than a node-name such as libvirt's `libvirt-1-storage`.
 */

import type { QmpClient } from "../qmp/client.ts";
import { QmpCommandError } from "../qmp/errors.ts";
import { isJsonObject } from "../qmp/json_object.ts";
import type { BlockDisk } from "./match.ts";

/** A disk's names in libvirt's domain XML: its target (`vda`) and device alias. */
export interface DiskAlias {
  target: string;
  alias: string;
}

const PERIPHERAL = "/machine/peripheral/";

/**
 * The device id behind a block backend's name: QEMU names a backend by its device's id, or,
 * for a device without one (virtio-blk's inner device), by a QOM path such as
 * `/machine/peripheral/virtio-disk0/virtio-backend`, whose first segment is the id.
 */
export function deviceIdOf(backend: string): string {
  if (!backend.startsWith(PERIPHERAL)) return backend;
  return backend.slice(PERIPHERAL.length).split("/")[0]!;
}

/**
 * The disks in an `x-debug-query-block-graph` reply: one per block backend, with every node
 * below it (format, protocol, backing files), top first. Malformed parts are skipped.
 */
export function disksFromBlockGraph(graph: unknown): BlockDisk[] {
  if (!isJsonObject(graph) || !Array.isArray(graph.nodes) || !Array.isArray(graph.edges)) return [];
  const names = new Map<unknown, string>();
  const backends: { id: unknown; name: string }[] = [];
  for (const node of graph.nodes) {
    if (!isJsonObject(node) || typeof node.name !== "string") continue;
    names.set(node.id, node.name);
    if (node.type === "block-backend" && node.name !== "") {
      backends.push({ id: node.id, name: node.name });
    }
  }
  const children = new Map<unknown, unknown[]>();
  for (const edge of graph.edges) {
    if (!isJsonObject(edge)) continue;
    children.set(edge.parent, [...(children.get(edge.parent) ?? []), edge.child]);
  }
  return backends.map(({ id, name }) => {
    const nodes: string[] = [];
    const seen = new Set<unknown>([id]);
    const queue = [...(children.get(id) ?? [])];
    while (queue.length > 0) {
      const next = queue.shift();
      if (seen.has(next)) continue;
      seen.add(next);
      const nodeName = names.get(next);
      if (nodeName !== undefined && nodeName !== "") nodes.push(nodeName);
      queue.push(...(children.get(next) ?? []));
    }
    return { names: uniqueNames([deviceIdOf(name), name]), nodes };
  });
}

/**
 * The disks in a `query-block` reply, for a QEMU without `x-debug-query-block-graph`: only the
 * top node is known, plus, by libvirt's naming, `libvirt-N-storage` under `libvirt-N-format`.
 */
export function disksFromQueryBlock(reply: unknown): BlockDisk[] {
  if (!Array.isArray(reply)) return [];
  const disks: BlockDisk[] = [];
  for (const entry of reply) {
    if (!isJsonObject(entry) || !isJsonObject(entry.inserted)) continue;
    const top = entry.inserted["node-name"];
    if (typeof top !== "string") continue;
    const names: string[] = [];
    if (typeof entry.qdev === "string" && entry.qdev !== "") {
      names.push(deviceIdOf(entry.qdev), entry.qdev);
    }
    if (typeof entry.device === "string" && entry.device !== "") names.push(entry.device);
    const libvirt = /^libvirt-(\d+)-format$/.exec(top);
    const nodes = libvirt ? [top, `libvirt-${libvirt[1]}-storage`] : [top];
    disks.push({ names: uniqueNames(names), nodes });
  }
  return disks;
}

/** Adds libvirt's target names (`vda`) to the disks whose device id is the target's alias. */
export function withDiskAliases(
  disks: readonly BlockDisk[],
  aliases: readonly DiskAlias[],
): BlockDisk[] {
  return disks.map((disk) => {
    const targets = aliases.filter((a) => disk.names.includes(a.alias)).map((a) => a.target);
    return { ...disk, names: uniqueNames([...targets, ...disk.names]) };
  });
}

/**
 * Asks QEMU (in-band, so only while the main loop answers) for its disks and their node chains:
 * `x-debug-query-block-graph` where it exists (QEMU 4.0 and newer; it is the one command that
 * links a device to every node below it), else `query-block`.
 */
export async function queryDisks(
  client: QmpClient,
  aliases: readonly DiskAlias[] = [],
): Promise<BlockDisk[]> {
  let disks: BlockDisk[];
  try {
    disks = disksFromBlockGraph(await client.execute("x-debug-query-block-graph"));
  } catch (error) {
    if (!(error instanceof QmpCommandError)) throw error;
    disks = disksFromQueryBlock(await client.execute("query-block"));
  }
  return withDiskAliases(disks, aliases);
}

function uniqueNames(names: readonly string[]): string[] {
  return [...new Set(names)];
}
