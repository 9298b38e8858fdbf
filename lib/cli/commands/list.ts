/**
 * `yank list`: the yank instances with what is behind each (PEER, DISK), as a table or as
 * QEMU's own JSON objects with `"peer"` and `"disk"` added.
 */

import type { CliArgs } from "../args.ts";
import { type CliIo, reportWarning, useColour } from "../io.ts";
import { visitSockets } from "../monitor.ts";
import { queryYank } from "../../yank/yank.ts";
import { instanceName, type YankInstance } from "../../yank/instances.ts";
import {
  describePeers,
  instanceKey,
  type InstancePeer,
  type PeerReplies,
} from "../../yank/describe_peers.ts";
import { formatPeer, peerJson } from "../../yank/peer_format.ts";
import { queryPeers } from "../../yank/query_peers.ts";
import { isSocket } from "../../sockets/plan.ts";
import { renderTable } from "../../render/table.ts";
import { renderJson } from "../../render/json.ts";
import { QmpError } from "../../qmp/errors.ts";

const UNKNOWN: InstancePeer = { peer: undefined, disk: undefined };

/**
 * query-yank (out-of-band) and the in-band peer queries, sent together. When the in-band ones
 * go unanswered (a hung main loop), the instances are still listed, without peers.
 */
async function listWithPeers(client: Parameters<typeof queryYank>[0]) {
  const peers = queryPeers(client).then(
    (replies): PeerReplies | Error => replies,
    (error: unknown) => error instanceof Error ? error : new Error(String(error)),
  );
  const instances = await queryYank(client);
  const replies = await peers;
  return {
    instances,
    peers: replies instanceof Error
      ? new Map<string, InstancePeer>()
      : describePeers(instances, replies, { isSocket }),
    peerFailure: replies instanceof Error ? replies : undefined,
  };
}

/** Runs `yank list`; returns the exit code. */
export async function listCommand(args: CliArgs, io: CliIo): Promise<number> {
  const { outcomes, multi, exitCode } = await visitSockets(args, io, listWithPeers);
  const found: { socket: string; instance: YankInstance; peer: InstancePeer }[] = [];
  for (const outcome of outcomes) {
    if (!("value" in outcome)) continue;
    const { instances, peers, peerFailure } = outcome.value;
    if (peerFailure !== undefined) {
      const why = peerFailure instanceof QmpError ? peerFailure.message : String(peerFailure);
      reportWarning(
        io,
        `${
          JSON.stringify(outcome.socket)
        }: no peers listed, the in-band queries for them went unanswered (${why}); the out-of-band query-yank still answered, so QEMU's main loop may be hung`,
      );
    }
    for (const instance of instances) {
      const peer = peers.get(instanceKey(instance)) ?? UNKNOWN;
      found.push({ socket: outcome.socket, instance, peer });
    }
  }
  // When every socket failed there is no data to print, not even an empty list.
  if (!outcomes.some((outcome) => "value" in outcome)) return exitCode;
  if (args.json) {
    const items = found.map(({ socket, instance, peer }) => {
      const item = { ...instance, peer: peerJson(peer.peer), disk: peer.disk ?? null };
      return multi ? { socket, ...item } : item;
    });
    io.stdout(`${renderJson(items)}\n`);
  } else {
    const head = ["TYPE", "NAME", "PEER", "DISK"];
    const rows = found.map(({ socket, instance, peer }) => {
      const row = [
        instance.type,
        instanceName(instance) || "-",
        formatPeer(peer.peer),
        peer.disk ?? "-",
      ];
      return multi ? [socket, ...row] : row;
    });
    io.stdout(
      renderTable(multi ? ["SOCKET", ...head] : head, rows, {
        bold: useColour(io, "stdout"),
      }),
    );
  }
  return exitCode;
}
