/**
 * Resuming a VM that an I/O error paused (`werror`/`rerror=stop`: status `io-error`), but only
 * when no disk it waits on still sits on a yanked NBD node: `cont` would otherwise retry the
 * failed request and pause the VM again.
 */

import type { QmpClient } from "../qmp/client.ts";
import { isJsonObject } from "../qmp/json_object.ts";
import { disksFromBlockGraph } from "./disks.ts";

/** Whether the VM was resumed, and if not, why. */
export type ResumeOutcome =
  | { resumed: true; dryRun: boolean }
  | { resumed: false; status: string; waiting?: { disk: string; nodes: string[] }[] };

/** The devices whose io-status says a request failed, from `query-block`. */
export function waitingDevices(queryBlock: unknown): string[] {
  if (!Array.isArray(queryBlock)) return [];
  return queryBlock.filter(isJsonObject).filter((entry) =>
    typeof entry["io-status"] === "string" && entry["io-status"] !== "ok"
  ).map((entry) =>
    typeof entry.qdev === "string" && entry.qdev !== "" ? entry.qdev : String(entry.device ?? "")
  );
}

/**
 * Resumes the VM when it is paused by an I/O error and every disk that waits (io-status not
 * `ok`) sits on NBD nodes (`nbd`) none of which is still yanked (`yanked`): a disk that failed
 * for another reason (a full local disk) was not reattached, and keeps the VM paused.
 * `blockGraph` is the graph before the reattach, whose node names the sets use.
 */
export async function resumeIfWaiting(
  client: QmpClient,
  blockGraph: unknown,
  nodes: { yanked: ReadonlySet<string>; nbd: ReadonlySet<string> },
  dryRun: boolean,
): Promise<ResumeOutcome> {
  const [status, queryBlock] = await Promise.all([
    client.execute("query-status"),
    client.execute("query-block"),
  ]);
  const state = isJsonObject(status) && typeof status.status === "string"
    ? status.status
    : "unknown";
  if (state !== "io-error") return { resumed: false, status: state };
  const disks = disksFromBlockGraph(blockGraph);
  const waiting = waitingDevices(queryBlock).map((device) => {
    const chain = disks.find((d) => d.names.includes(device));
    const onNbd = (chain?.nodes ?? []).some((node) => nodes.nbd.has(node));
    return {
      disk: chain?.names[0] ?? device,
      onNbd,
      nodes: (chain?.nodes ?? []).filter((node) => nodes.yanked.has(node)),
    };
  }).filter((w) => w.nodes.length > 0 || !w.onNbd).map(({ disk, nodes }) => ({ disk, nodes }));
  if (waiting.length > 0) return { resumed: false, status: state, waiting };
  if (!dryRun) await client.execute("cont");
  return { resumed: true, dryRun };
}
