/**
 * Swapping a fresh NBD node in for a yanked one, under its parent. Two ways, as the graph
 * allows: `blockdev-reopen` of the parent with the new child, where nothing writes through the
 * parent; else a `blockdev-mirror` of the parent (sync none: both ends are the same export, so
 * nothing is copied) to a twin of it on the fresh node, which QEMU then puts in the parent's
 * place. blockdev-reopen flushes the parent first, and with a writer above it (a device) that
 * flush reaches the dead node and fails with EIO; a mirror never flushes its source.
 */

import type { QmpClient } from "../qmp/client.ts";
import { QmpCommandError } from "../qmp/errors.ts";
import { YankError } from "../errors.ts";
import type { NbdExportInfo, NbdProbeOptions, NbdServerAddress } from "../nbd/handshake.ts";
import type { ReattachTarget } from "./reattach_plan.ts";
import { formatAddress } from "./peer_format.ts";

/** QEMU refused or failed a step of a reattach; the message names the step (exit 1). */
export class ReattachFailedError extends YankError {
  override name = "ReattachFailedError";
  override readonly kind = "failed";
}

/** What swapIn needs besides the target. */
export interface SwapTools {
  /** Milliseconds left of the run. */
  left: () => number;
  probe: (address: NbdServerAddress, options: NbdProbeOptions) => Promise<NbdExportInfo>;
  /** A fresh node name (a letter first, at most 29 characters). */
  temporary: string;
  /** Whether blockdev-add takes nbd's `open-timeout` (QEMU 7.0 and newer). */
  openTimeout: boolean;
}

/** The names of a node and its parent at one moment of the swap. */
interface Names {
  node: string;
  parent: string;
}

/** blockdev-add's open-timeout: whole seconds, at least 1, within what is left. */
function openTimeout(ms: number): number {
  return Math.max(1, Math.floor(ms / 1000));
}

/**
 * Swaps a fresh node in under a temporary name and removes the dead one; then, if the server
 * answers a second client while the first is connected, swaps again to the old names. Resolves
 * with the names in use, and why the old ones were not kept.
 */
export async function swapIn(
  client: QmpClient,
  target: ReattachTarget,
  tools: SwapTools,
): Promise<{ now: string; parentNow: string; nameLost?: string }> {
  const old: Names = { node: target.node.name, parent: target.parent.name };
  const temporary: Names = {
    node: tools.temporary,
    parent: target.parent.swap === "mirror" ? `${tools.temporary}-f` : target.parent.name,
  };
  await replace(client, target, old, temporary, tools);
  // A second client, while QEMU's fresh one is connected: qemu-nbd without --shared waits
  // forever for the first to leave, and QEMU would wait with it, inside its main loop.
  const server = target.node.peer.server as NbdServerAddress;
  try {
    await tools.probe(server, {
      export: target.node.peer.export ?? "",
      timeoutMs: Math.min(tools.left(), 2000),
    });
  } catch {
    return {
      now: temporary.node,
      parentNow: temporary.parent,
      nameLost: `its server ${
        formatAddress(target.node.peer.server)
      } does not answer a second client (qemu-nbd serves one unless started with --shared N), so the name could not be kept`,
    };
  }
  try {
    await replace(client, target, temporary, old, tools);
  } catch (error) {
    if (!(error instanceof ReattachFailedError)) throw error;
    return { now: temporary.node, parentNow: temporary.parent, nameLost: error.message };
  }
  return { now: old.node, parentNow: old.parent };
}

/** One swap: a fresh node `to.node` (and parent twin) in place of `from`, which is deleted. */
async function replace(
  client: QmpClient,
  target: ReattachTarget,
  from: Names,
  to: Names,
  tools: SwapTools,
): Promise<void> {
  const { node, parent } = target;
  const step = async (what: string, run: () => Promise<unknown>) => {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof QmpCommandError)) throw error;
      throw new ReattachFailedError(
        `Reattaching block-node ${JSON.stringify(node.name)} on ${
          JSON.stringify(client.socket)
        } failed at ${what}: ${error.errorClass}: ${error.desc}`,
      );
    }
  };
  const del = (name: string) =>
    step(`blockdev-del of ${name}`, () => client.execute("blockdev-del", { "node-name": name }));
  await step(`blockdev-add of ${to.node}`, () =>
    client.execute("blockdev-add", {
      ...node.options,
      "node-name": to.node,
      ...(tools.openTimeout ? { "open-timeout": openTimeout(tools.left()) } : {}),
    }));
  const withChild = (child: string) => ({
    ...parent.options,
    ...parent.otherChildren,
    "node-name": to.parent,
    [parent.role]: child,
  });
  try {
    if (parent.swap === "reopen") {
      await step(
        `blockdev-reopen of ${to.parent}`,
        () => client.execute("blockdev-reopen", { options: [withChild(to.node)] }),
      );
    } else {
      await step(
        `blockdev-add of ${to.parent}`,
        () => client.execute("blockdev-add", withChild(to.node)),
      );
      await mirror(client, from.parent, to.parent, step, tools.left);
    }
  } catch (error) {
    if (parent.swap === "mirror") {
      await client.execute("blockdev-del", { "node-name": to.parent }).catch(() => {});
    }
    await client.execute("blockdev-del", { "node-name": to.node }).catch(() => {});
    throw error;
  }
  if (parent.swap === "mirror") await del(from.parent);
  await del(from.node);
}

/**
 * Mirrors `source` to `target` with sync none and completes the job at once: QEMU then puts
 * `target` in `source`'s place under every parent. Waits, polling query-jobs, within `left()`.
 */
async function mirror(
  client: QmpClient,
  source: string,
  target: string,
  step: (what: string, run: () => Promise<unknown>) => Promise<unknown>,
  left: () => number,
): Promise<void> {
  const id = `${target}-job`;
  const status = async () => {
    const jobs = await client.execute("query-jobs") as {
      id: string;
      status: string;
      error?: string;
    }[];
    return jobs.find((job) => job.id === id);
  };
  const until = async (wanted: string) => {
    for (;;) {
      const job = await status();
      if (job === undefined || job.status === wanted || job.status === "concluded") return job;
      if (left() <= 0) {
        throw new ReattachFailedError(
          `The mirror job ${JSON.stringify(id)} on ${
            JSON.stringify(client.socket)
          } did not become ${wanted} in time (it is ${job.status}; see query-jobs)`,
        );
      }
      await new Promise((resolve) => AbortSignal.timeout(20).addEventListener("abort", resolve));
    }
  };
  await step(`blockdev-mirror of ${source} to ${target}`, () =>
    client.execute("blockdev-mirror", {
      "job-id": id,
      device: source,
      target,
      sync: "none",
      "auto-dismiss": false,
    }));
  const ready = await until("ready");
  if (ready?.status === "ready") {
    await step(`job-complete of ${id}`, () => client.execute("job-complete", { id }));
  }
  const done = await until("concluded");
  await client.execute("job-dismiss", { id }).catch(() => {});
  if (done?.error !== undefined) {
    throw new ReattachFailedError(
      `The mirror job ${JSON.stringify(id)} that swaps ${JSON.stringify(source)} for ${
        JSON.stringify(target)
      } on ${JSON.stringify(client.socket)} failed: ${done.error}`,
    );
  }
}
