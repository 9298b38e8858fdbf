/**
 * `yank watch`: the long-running watchdog of one dedicated monitor, optionally serving the
 * yank-only proxy socket (--listen) and a metrics textfile (--textfile). Ends with 0 when the
 * signal (SIGTERM, SIGINT) aborts.
 */

import type { CliArgs } from "../args.ts";
import type { CliIo } from "../io.ts";
import { UsageError } from "../exit_codes.ts";
import { traceTo } from "../monitor.ts";
import { isGlob } from "../../yank/match.ts";
import { Watchdog } from "../../watch/watchdog.ts";
import { ProxyServer } from "../../proxy/server.ts";
import { renderHealthPrometheus } from "../../health/render_prometheus.ts";
import { writeTextfileAtomically } from "../../health/textfile.ts";

/** Runs `yank watch` until SIGTERM or SIGINT; returns the exit code. */
export async function watchCommand(args: CliArgs, io: CliIo): Promise<number> {
  const socket = args.sockets[0]!;
  if (args.sockets.length !== 1 || isGlob(socket)) {
    throw new UsageError(
      `"yank watch" watches exactly one monitor socket, got ${
        args.sockets.map((s) => JSON.stringify(s)).join(", ")
      } (run one watch per VM, e.g. with the yank-watch@.service template)`,
    );
  }
  const textfile = args.textfile;
  const watchdog = new Watchdog({
    socket,
    selectors: args.selectors,
    intervalMs: args.intervalMs,
    hangAfterMs: args.hangAfterMs,
    stallAfterMs: args.stallAfterMs,
    timeoutMs: args.timeoutMs,
    dryRun: args.dryRun,
    log: (line) => io.stderr(`${line}\n`),
    now: io.now,
    signal: io.signal,
    trace: args.trace ? traceTo(io, socket) : undefined,
    onReport: textfile === undefined
      ? undefined
      : (report, watching) =>
        writeTextfileAtomically(textfile, renderHealthPrometheus([report], { watching })),
  });
  const proxy = args.listen === undefined
    ? undefined
    : await ProxyServer.listen(args.listen, watchdog);
  try {
    await watchdog.run();
    return 0;
  } finally {
    await proxy?.close();
  }
}
