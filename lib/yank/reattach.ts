/**
 * Reattaching yanked NBD nodes: once the server answers a handshake from yank itself, a fresh
 * node with the same server, export and options is added (`blockdev-add`, bounded by
 * `open-timeout`), swapped in under the parent (`blockdev-reopen`), and the dead node deleted.
 * Where the server takes a second client, the node gets its old name back. QEMU connects
 * inside its main loop, so it is never asked to connect to a server that has not just answered.
 */

import type { QmpClient } from "../qmp/client.ts";
import { YankError } from "../errors.ts";
import { endpointOf } from "./peer_endpoint.ts";
import { countOpenConnections, findQemuProcess, type RunSs } from "../liveness/sample.ts";
import {
  type NbdExportInfo,
  type NbdProbeOptions,
  type NbdServerAddress,
  probeNbd,
} from "../nbd/handshake.ts";
import { type BlockNodeRecord, nbdNodeInfo } from "./node_options.ts";
import {
  NothingToReattachError,
  planReattach,
  type ReattachPlan,
  ReattachRefusedError,
  type ReattachSelectors,
  type ReattachTarget,
} from "./reattach_plan.ts";
import { formatAddress } from "./peer_format.ts";
import { isJsonObject } from "../qmp/json_object.ts";
import { resumeIfWaiting, type ResumeOutcome } from "./resume.ts";
import { swapIn } from "./swap.ts";

/** One node reattached (or, with dryRun, that would be). */
export interface Reattached {
  /** The node's name before. */
  node: string;
  /** The name of the node now in its place (the same when the name was kept). */
  now: string;
  target: ReattachTarget;
  /** Why the old name could not be kept; undefined when it was (or on a dry run). */
  nameLost?: string;
  /** The parent's name now: a parent swapped by a mirror has a new one when the name is lost. */
  parentNow: string;
  /** How the node was swapped in. */
  swap: "reopen" | "mirror";
  /** Milliseconds from the handshake to the dead node's removal. */
  ms: number;
}

/** What one run did on one QEMU. */
export interface ReattachResult {
  reattached: Reattached[];
  refused: { node: string; error: YankError }[];
  /** With `resume`: whether the VM was resumed, or why not; undefined when not asked. */
  resume?: ResumeOutcome;
}

/** Options of `reattachSelected`. */
export interface ReattachOptions {
  selectors: ReattachSelectors;
  dryRun: boolean;
  /** Resume a VM paused by an I/O error once every disk it waits on is reattached. */
  resume: boolean;
  /** Bound on each wait, in milliseconds. */
  timeoutMs: number;
  /** Absolute time (as `now` counts) after which nothing waits any more. */
  deadline?: number;
  now?: () => number;
  /** The handshake (tests pass the world in). */
  probe?: (address: NbdServerAddress, options: NbdProbeOptions) => Promise<NbdExportInfo>;
  runSs?: RunSs;
  /** Random temporary node names (tests may fix them). */
  temporaryName?: () => string;
}

/** A QEMU node name: a letter, then letters, digits, `-`, `.` and `_`, at most 31 in all. */
function randomNodeName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `yank-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Finds which NBD nodes are yanked: those with no open connection to their server, as the
 * kernel shows QEMU's sockets (QMP shows no trace of a yank).
 */
async function openConnections(
  client: QmpClient,
  namedBlockNodes: unknown,
  runSs?: RunSs,
): Promise<Map<string, number>> {
  const nodes = (Array.isArray(namedBlockNodes) ? namedBlockNodes : [])
    .filter(isJsonObject)
    .map((record) => nbdNodeInfo(record as BlockNodeRecord))
    .filter((info) => info !== undefined);
  const result = new Map<string, number>();
  if (nodes.length === 0) return result;
  const qemu = await findQemuProcess(client.socket, runSs);
  const cannotTell = (why: string) =>
    new ReattachRefusedError(
      `Cannot tell which NBD nodes on ${JSON.stringify(client.socket)} were yanked: ${why}`,
      ["QMP shows no trace of a yank; yank reads it from QEMU's sockets, as root or QEMU's user"],
    );
  if ("error" in qemu) throw cannotTell(qemu.error);
  const endpoints = nodes.map((info) => endpointOf(info.peer)!);
  let counts: number[];
  try {
    counts = await countOpenConnections(qemu.pid, endpoints, runSs);
  } catch (error) {
    throw cannotTell((error as Error).message);
  }
  nodes.forEach((info, index) => result.set(info.name, counts[index]!));
  return result;
}

/** Reattaches the yanked NBD nodes the selectors pick, one after the other. */
export async function reattachSelected(
  client: QmpClient,
  options: ReattachOptions,
): Promise<ReattachResult> {
  const now = options.now ?? (() => performance.now());
  // Without a deadline (watch), the whole attempt gets one --timeout: a mirror job is polled
  // until it, never longer.
  const until = options.deadline ?? now() + options.timeoutMs;
  const left = () => Math.max(0, Math.min(options.timeoutMs, until - now()));
  const [namedBlockNodes, blockGraph] = await Promise.all([
    client.execute("query-named-block-nodes", { flat: true }),
    client.execute("x-debug-query-block-graph"),
  ]);
  const openByNode = await openConnections(client, namedBlockNodes, options.runSs);
  const plan: ReattachPlan = planReattach(
    { namedBlockNodes, blockGraph, openConnections: openByNode, socket: client.socket },
    options.selectors,
  );
  const result: ReattachResult = { reattached: [], refused: [...plan.refused] };
  const probe = options.probe ?? probeNbd;
  const exportName = (target: ReattachTarget) => target.node.peer.export ?? "";
  for (const target of plan.targets) {
    const started = now();
    const server = target.node.peer.server as NbdServerAddress;
    const name = target.node.name;
    try {
      // Half of what is left: a server that answers does so in milliseconds, and the rest is
      // kept for QEMU's steps (the swap, the next node, the resume).
      await probe(server, { export: exportName(target), timeoutMs: Math.floor(left() / 2) });
    } catch (error) {
      result.refused.push({
        node: name,
        error: new ServerNotAnsweringError(
          `Not reattaching block-node ${JSON.stringify(name)} on ${
            JSON.stringify(client.socket)
          }: its NBD server ${formatAddress(target.node.peer.server)} does not answer (${
            (error as Error).message
          })`,
          ["try again once the server answers; yank never asks QEMU to connect to a server that does not"],
        ),
      });
      continue;
    }
    if (options.dryRun) {
      result.reattached.push({
        node: name,
        now: name,
        parentNow: target.parent.name,
        swap: target.parent.swap,
        target,
        ms: now() - started,
      });
      continue;
    }
    try {
      const done = await swapIn(client, target, {
        left,
        probe,
        temporary: (options.temporaryName ?? randomNodeName)(),
        // Older QEMUs refuse the option: there the handshake just done is the only assurance.
        openTimeout: (client.greeting.version?.major ?? 7) >= 7,
      });
      result.reattached.push({
        ...done,
        node: name,
        swap: target.parent.swap,
        target,
        ms: now() - started,
      });
    } catch (error) {
      if (!(error instanceof YankError)) throw error;
      result.refused.push({ node: name, error });
    }
  }
  if (options.resume) {
    // Every NBD node not known to be connected counts, selected or not, and so does one that
    // shares a server with nodes of which only some were yanked.
    const everyNode = planReattach(
      { namedBlockNodes, blockGraph, openConnections: openByNode, socket: client.socket },
      { blockNode: [], disk: [] },
    );
    const yanked = new Set([...openByNode.keys()].filter((node) => !everyNode.open.includes(node)));
    for (const done of result.reattached) yanked.delete(done.node);
    const nbd = new Set(openByNode.keys());
    result.resume = await resumeIfWaiting(client, blockGraph, { yanked, nbd }, options.dryRun);
  }
  return result;
}

/** A yanked node's server does not answer yank's handshake (yet): exit 3, and watch retries. */
export class ServerNotAnsweringError extends NothingToReattachError {
  override name = "ServerNotAnsweringError";
}
