/**
 * Opening a monitor the way every one-shot command does: within the run's deadline, with
 * tracing when asked, and with a warning when the monitor offers no out-of-band execution.
 */

import { QmpClient, type QmpTraceDirection } from "../qmp/client.ts";
import type { CliArgs } from "./args.ts";
import { type CliIo, reportFailure, reportWarning } from "./io.ts";
import { printable } from "../render/printable.ts";
import { jsonPrintable } from "../render/json.ts";
import { ExitCode, exitCodeFor, messageFor } from "./exit_codes.ts";
import { globUnreadable, noSocketMatches, planSockets } from "../sockets/plan.ts";
import { visitWithinDeadline } from "../sockets/visit.ts";

const TRACE_ARROWS: Record<QmpTraceDirection, string> = {
  send: "->",
  recv: "<-",
  drop: "<- (dropped)",
};

/**
 * A trace sink that writes one line per QMP message on stderr: `TIME SOCKET -> {...}` for sent,
 * `<-` for received and `<- (dropped)` for replies that were not ours (stale or id-less).
 * The JSON is kept valid, but characters that could drive the terminal (C1 controls, bidi
 * overrides, which JSON.stringify leaves alone) are written as \u escapes.
 */
export function traceTo(io: CliIo, socket: string): (d: QmpTraceDirection, text: string) => void {
  const where = printable(socket);
  return (direction, text) => {
    const time = new Date(io.now()).toISOString();
    io.stderr(`${time} ${where} ${TRACE_ARROWS[direction]} ${jsonPrintable(text)}\n`);
  };
}

/** Connects and negotiates, bounded by `deadline`; warns on stderr when OOB is not offered. */
export async function openMonitor(
  socket: string,
  args: CliArgs,
  io: CliIo,
  deadline: number,
): Promise<QmpClient> {
  const client = await QmpClient.connect(socket, {
    timeoutMs: args.timeoutMs,
    deadline,
    now: io.now,
    ...(args.trace ? { trace: traceTo(io, socket) } : {}),
  });
  if (!client.oob) {
    reportWarning(
      io,
      `${
        JSON.stringify(socket)
      } does not offer out-of-band execution (oob), so yank uses in-band commands, which cannot get through a hung main loop`,
    );
  }
  return client;
}

/** One socket's outcome. */
export type SocketOutcome<R> = { socket: string; value: R } | { socket: string; error: unknown };

/**
 * Runs `task` on every socket the arguments name (globs expanded), concurrently and within one
 * deadline for the whole run, reporting each failure as one line on stderr in socket order.
 * Returns the outcomes and the exit code (the highest among the sockets).
 */
export async function visitSockets<R>(
  args: CliArgs,
  io: CliIo,
  task: (client: QmpClient) => Promise<R>,
): Promise<{ outcomes: SocketOutcome<R>[]; multi: boolean; exitCode: number }> {
  const deadline = io.now() + args.timeoutMs;
  const plan = planSockets(args.sockets);
  const timing = { deadline, timeoutMs: args.timeoutMs, now: io.now };
  const settled = await visitWithinDeadline(plan.sockets, timing, async (socket) => {
    const client = await openMonitor(socket, args, io, deadline);
    try {
      return await task(client);
    } finally {
      client.close();
    }
  });
  const outcomes: SocketOutcome<R>[] = settled.map((result, index) => {
    const socket = plan.sockets[index]!;
    return result.status === "fulfilled"
      ? { socket, value: result.value }
      : { socket, error: result.reason };
  });
  for (const pattern of plan.unmatched) {
    outcomes.push({ socket: pattern, error: noSocketMatches(pattern) });
  }
  for (const { pattern, directory } of plan.unreadable) {
    outcomes.push({ socket: pattern, error: globUnreadable(pattern, directory) });
  }
  let exitCode: number = ExitCode.ok;
  for (const outcome of outcomes) {
    if (!("error" in outcome)) continue;
    reportFailure(io, messageFor(outcome.error));
    exitCode = Math.max(exitCode, exitCodeFor(outcome.error));
  }
  return { outcomes, multi: plan.multi || args.manyDomains, exitCode };
}
