/**
 * Asking QEMU for the replies `describePeers` reads: four in-band queries sent back to back, so
 * they share one round trip with the out-of-band `query-yank` (QEMU queues up to 8 in-band
 * commands per monitor; see docs/qmp.md).
 */

import type { QmpClient } from "../qmp/client.ts";
import { QmpCommandError } from "../qmp/errors.ts";
import { PEER_QUERIES, type PeerReplies } from "./describe_peers.ts";

/**
 * Runs PEER_QUERIES in-band. A command QEMU refuses (e.g. behind yank's own proxy, which
 * forwards only yank commands) is left out of the result; a timeout or a lost connection
 * rejects, as the main loop did not answer.
 */
export async function queryPeers(
  client: QmpClient,
  options: { timeoutMs?: number } = {},
): Promise<PeerReplies> {
  const replies: PeerReplies = {};
  await Promise.all(PEER_QUERIES.map(async (query) => {
    try {
      const args = "arguments" in query ? { ...query.arguments } : undefined;
      replies[query.command] = await client.execute(
        query.command,
        args,
        options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
      );
    } catch (error) {
      if (!(error instanceof QmpCommandError)) throw error;
    }
  }));
  return replies;
}
