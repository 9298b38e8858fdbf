/**
 * Which yanked NBD nodes can be reattached, and how: pure functions over QEMU's replies
 * (`query-named-block-nodes`, `x-debug-query-block-graph`) and the kernel's count of QEMU's
 * open connections to each server. QEMU 7.2 shows nothing of a yank in QMP: the node keeps its
 * yank instance, its filename and its place in the graph; only its connection is shut down.
 */

import { YankError } from "../errors.ts";
import { isJsonObject } from "../qmp/json_object.ts";
import { type DiskAlias, disksFromBlockGraph, withDiskAliases } from "./disks.ts";
import { compileGlob, isGlob } from "../glob.ts";
import { formatAddress } from "./peer_format.ts";
import { type NbdNodeInfo, nbdNodeInfo, parentOptions, recordsOf } from "./node_options.ts";

/** A node can be reattached, but not safely in this way; the message says why (exit 2). */
export class ReattachRefusedError extends YankError {
  override name = "ReattachRefusedError";
  override readonly kind = "usage";
}

/** There is nothing to reattach (yet): never yanked, or the server does not answer (exit 3). */
export class NothingToReattachError extends YankError {
  override name = "NothingToReattachError";
  override readonly kind = "not-found";
}

/** Where a node hangs in the graph: its parent and the parent's child role for it. */
export interface NodeParent {
  name: string;
  /** `file` or `backing`. */
  role: string;
  /** blockdev-reopen's options for the parent, without the role's child. */
  options: Record<string, unknown>;
  /**
   * How to swap the child: `reopen` the parent (blockdev-reopen), or, for a parent something
   * writes through (a device), `mirror` it to a fresh twin: blockdev-reopen flushes the parent,
   * and with a writer above, the flush reaches the dead node and fails with EIO.
   */
  swap: "reopen" | "mirror";
  /** The parent's other children, by role (`backing`), for its twin. */
  otherChildren: Record<string, string>;
}

/** A yanked node to reattach. */
export interface ReattachTarget {
  node: NbdNodeInfo;
  parent: NodeParent;
  /** The devices (and libvirt targets) the node backs. */
  disks: string[];
}

/** The plan: what to reattach, what is refused, and the NBD nodes left as they are. */
export interface ReattachPlan {
  targets: ReattachTarget[];
  refused: { node: string; error: YankError }[];
  /** NBD nodes whose connection is open (never yanked), by name. */
  open: string[];
}

/** What the plan is made from. */
export interface ReattachFacts {
  namedBlockNodes: unknown;
  blockGraph: unknown;
  /** QEMU's open connections to each NBD node's server, by node name. */
  openConnections: ReadonlyMap<string, number>;
  socket: string;
}

/** What to reattach: node-names or globs, and disks; none selects every yanked NBD node. */
export interface ReattachSelectors {
  blockNode: readonly string[];
  disk: readonly string[];
  diskAliases?: readonly DiskAlias[];
}

/** One edge of an `x-debug-query-block-graph` reply, by node names and types. */
interface GraphEdge {
  parent: { name: string; type: string };
  child: { name: string; type: string };
  role: string;
}

/** The edges of an `x-debug-query-block-graph` reply. */
function edgesOf(graph: unknown): GraphEdge[] {
  if (!isJsonObject(graph) || !Array.isArray(graph.nodes) || !Array.isArray(graph.edges)) {
    return [];
  }
  const byId = new Map<unknown, { name: string; type: string }>();
  for (const node of graph.nodes) {
    if (isJsonObject(node) && typeof node.name === "string" && typeof node.type === "string") {
      byId.set(node.id, { name: node.name, type: node.type });
    }
  }
  const edges: GraphEdge[] = [];
  for (const edge of graph.edges) {
    if (!isJsonObject(edge) || typeof edge.name !== "string") continue;
    const child = byId.get(edge.child);
    const parent = byId.get(edge.parent);
    if (child !== undefined && parent !== undefined) edges.push({ parent, child, role: edge.name });
  }
  return edges;
}

/** The parents of each node, by node name. */
function parentsOf(
  edges: readonly GraphEdge[],
): Map<string, { name: string; type: string; role: string }[]> {
  const result = new Map<string, { name: string; type: string; role: string }[]>();
  for (const { parent, child, role } of edges) {
    result.set(child.name, [...(result.get(child.name) ?? []), { ...parent, role }]);
  }
  return result;
}

/** Plans the reattach of the yanked NBD nodes the selectors pick. */
export function planReattach(facts: ReattachFacts, selectors: ReattachSelectors): ReattachPlan {
  const records = recordsOf(facts.namedBlockNodes);
  const edges = edgesOf(facts.blockGraph);
  const parents = parentsOf(edges);
  const disks = withDiskAliases(disksFromBlockGraph(facts.blockGraph), selectors.diskAliases ?? []);
  const nodeGlobs = selectors.blockNode.map((p) => ({ exact: !isGlob(p), re: compileGlob(p) }));
  const diskGlobs = selectors.disk.map((p) => compileGlob(p));
  const diskNodes = new Set(
    disks.filter((d) => d.names.some((n) => diskGlobs.some((re) => re.test(n))))
      .flatMap((d) => d.nodes),
  );
  const everything = nodeGlobs.length === 0 && diskGlobs.length === 0;
  const plan: ReattachPlan = { targets: [], refused: [], open: [] };
  // In name order, so that output and refusals do not follow the order QEMU happens to list.
  const nbd = [...records.values()].filter((r) => r.drv === "nbd")
    .sort((a, b) => a["node-name"] < b["node-name"] ? -1 : a["node-name"] > b["node-name"] ? 1 : 0);
  // Nodes that share a server are told apart only by count.
  const sharing = new Map<string, number>();
  const infos = new Map<string, NbdNodeInfo>();
  for (const record of nbd) {
    const info = nbdNodeInfo(record);
    if (info === undefined) continue;
    infos.set(info.name, info);
    const key = formatAddress(info.peer.server);
    sharing.set(key, (sharing.get(key) ?? 0) + 1);
  }
  const where = JSON.stringify(facts.socket);
  const refusedServers = new Set<string>();
  for (const record of nbd) {
    const name = record["node-name"];
    const named = nodeGlobs.some((g) => g.exact && g.re.test(name));
    if (!everything && !named && !nodeGlobs.some((g) => g.re.test(name)) && !diskNodes.has(name)) {
      continue;
    }
    const refuse = (error: YankError) => plan.refused.push({ node: name, error });
    const info = infos.get(name);
    if (info === undefined) {
      refuse(
        new ReattachRefusedError(
          `Cannot reattach block-node ${JSON.stringify(name)} on ${where}: its filename ${
            JSON.stringify(record.file)
          } names no NBD server yank can connect to`,
        ),
      );
      continue;
    }
    const server = formatAddress(info.peer.server);
    const open = facts.openConnections.get(name) ?? 0;
    const shared = sharing.get(server) ?? 1;
    if (open >= shared) {
      plan.open.push(name);
      if (named) {
        refuse(
          new NothingToReattachError(
            `Block-node ${
              JSON.stringify(name)
            } on ${where} was never yanked: QEMU's connection to ${server} is open`,
            ["nothing to do; reattach only a node that was yanked"],
          ),
        );
      }
      continue;
    }
    if (open > 0) {
      // One line per server, naming every node on it.
      if (!refusedServers.has(server)) {
        refusedServers.add(server);
        const names = [...infos.values()]
          .filter((other) => formatAddress(other.peer.server) === server)
          .map((other) => JSON.stringify(other.name));
        refuse(
          new ReattachRefusedError(
            `Cannot tell which of block-nodes ${
              names.join(", ")
            } on ${where} were yanked: they share the NBD server ${server}, and QEMU holds ${open} open connection(s) to it`,
            ["yank the rest of them too, then reattach them all"],
          ),
        );
      }
      continue;
    }
    const up = parents.get(name) ?? [];
    const parent = up[0];
    if (parent === undefined || parent.type !== "block-driver" || up.length > 1) {
      const what = parent === undefined
        ? "it has no parent node"
        : parent.type === "block-backend"
        ? `it is the root node of device ${JSON.stringify(parent.name)}`
        : up.length > 1
        ? `it has ${up.length} parents`
        : `its parent is a ${parent.type}`;
      refuse(
        new ReattachRefusedError(
          `Cannot reattach block-node ${
            JSON.stringify(name)
          } on ${where}: ${what}, and QEMU can swap only a format or filter node's child`,
          [`put a format node above it (-blockdev raw,file=${name}) when the VM next starts`],
        ),
      );
      continue;
    }
    const parentRecord = records.get(parent.name);
    if (parentRecord === undefined || !["file", "backing"].includes(parent.role)) {
      refuse(
        new ReattachRefusedError(
          `Cannot reattach block-node ${JSON.stringify(name)} on ${where}: it is the ${
            JSON.stringify(parent.role)
          } child of ${JSON.stringify(parent.name)}, which blockdev-reopen cannot swap`,
        ),
      );
      continue;
    }
    plan.targets.push({
      node: info,
      parent: {
        name: parent.name,
        role: parent.role,
        options: parentOptions(parentRecord),
        swap: parent.role === "file" && (parents.get(parent.name) ?? []).length > 0
          ? "mirror"
          : "reopen",
        otherChildren: Object.fromEntries(
          edges.filter((e) => e.parent.name === parent.name && e.role !== parent.role)
            .map((e) => [e.role, e.child.name]),
        ),
      },
      disks: disks.filter((d) => d.nodes.includes(name)).map((d) => d.names[0]!),
    });
  }
  return plan;
}
