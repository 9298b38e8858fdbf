/**
 * Many VMs at once: sockets are handled concurrently with a bound, within one deadline, and one
 * socket's failure never hides another's result.
 */

import { formatSeconds } from "../qmp/errors.ts";
import { YankError } from "../errors.ts";

/** At most this many sockets are talked to at once. */
export const SOCKET_CONCURRENCY = 64;

/**
 * Runs `task` for each item, at most `limit` at once, and returns the outcomes in input order.
 * A rejected task yields its error; it never stops the others. `task` also gets the item's index.
 */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: "fulfilled", value: await task(items[index]!, index) };
      } catch (reason) {
        results[index] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A socket the run never got to: too little of --timeout was left when its turn came. */
export class SocketNotTriedError extends YankError {
  override name = "SocketNotTriedError";
  override readonly kind = "timeout";
  constructor(readonly socket: string, timeoutMs: number, before: number) {
    super(
      `${JSON.stringify(socket)} was not tried: --timeout ${
        formatSeconds(timeoutMs)
      } ran out while the ${before} sockets before it were handled, ${SOCKET_CONCURRENCY} at a time`,
      ["raise --timeout"],
    );
  }
}

/**
 * Runs `task` for each socket, SOCKET_CONCURRENCY at a time, all within one deadline so that the
 * whole run ends within --timeout. The first SOCKET_CONCURRENCY sockets start at once and get
 * whatever time there is. A socket that had to wait for a free slot and whose turn comes with
 * less than half of --timeout left is not tried (SocketNotTriedError) rather than given too
 * little time and misjudged as busy or hung.
 */
export function visitWithinDeadline<R>(
  sockets: readonly string[],
  timing: { deadline: number; timeoutMs: number; now: () => number },
  task: (socket: string) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  return mapConcurrently(sockets, SOCKET_CONCURRENCY, (socket, index) => {
    if (index >= SOCKET_CONCURRENCY && timing.deadline - timing.now() < timing.timeoutMs / 2) {
      return Promise.reject(new SocketNotTriedError(socket, timing.timeoutMs, index));
    }
    return task(socket);
  });
}
