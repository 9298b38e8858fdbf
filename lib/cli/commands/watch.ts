/**
 * `yank watch`: the long-running watchdog of every monitor socket its --socket paths and globs
 * name, optionally serving yank-only proxy sockets (--listen, --listen-dir) and one metrics
 * textfile (--textfile). Ends with 0 when the signal (SIGTERM, SIGINT) aborts.
 */

import type { CliArgs } from "../args.ts";
import type { CliIo } from "../io.ts";
import { UsageError } from "../exit_codes.ts";
import { traceTo } from "../monitor.ts";
import { isMultiSocket } from "../../sockets/plan.ts";
import { WatchSupervisor } from "../../watch/supervisor.ts";
import { GaugeTextfile } from "../../health/gauge_textfile.ts";
import { ProxyListenError } from "../../proxy/errors.ts";
import { formatLogLine } from "../../watch/log.ts";
import { describeError, wordRemedyAction } from "../remedies.ts";

/** Longest pause between two writes of --textfile, in milliseconds. */
const TEXTFILE_GAP_MS = 500;
/**
 * Longest time without a write of --textfile while watch runs, in milliseconds, whether or not
 * a VM reports: a textfile older than a few of these means the watch is gone or stuck.
 */
const TEXTFILE_HEARTBEAT_MS = 60_000;

/** Runs `yank watch` until SIGTERM or SIGINT; returns the exit code. */
export async function watchCommand(args: CliArgs, io: CliIo): Promise<number> {
  const multi = isMultiSocket(args.sockets);
  if (args.listen !== undefined && args.listenDir !== undefined) {
    throw new UsageError(`Give --listen or --listen-dir, not both (see "yank watch --help")`);
  }
  if (args.listen !== undefined && multi) {
    throw new UsageError(
      `--listen serves the proxy of one monitor, but --socket names several or a glob (use --listen-dir DIR for one proxy per monitor)`,
    );
  }
  if (args.listenDir !== undefined) checkDirectory(args.listenDir);
  if (args.resume && !args.reattach) {
    throw new UsageError(`--resume needs --reattach (see "yank watch --help")`);
  }
  const log = (line: string) => io.stderr(`${line}\n`);
  let lastTextfileError = "";
  const textfile = args.textfile === undefined ? undefined : new GaugeTextfile(args.textfile, {
    minGapMs: Math.min(args.intervalMs, TEXTFILE_GAP_MS),
    heartbeatMs: TEXTFILE_HEARTBEAT_MS,
    onError: (error) => {
      const message = describeError(error);
      if (message === lastTextfileError) return;
      lastTextfileError = message;
      log(formatLogLine({
        time: io.now(),
        socket: args.sockets.join(" "),
        state: "warning",
        instances: undefined,
        message,
      }));
    },
  });
  const supervisor = new WatchSupervisor({
    patterns: args.sockets,
    watchdog: {
      selectors: args.selectors,
      spare: args.spare,
      intervalMs: args.intervalMs,
      hangAfterMs: args.hangAfterMs,
      stallAfterMs: args.stallAfterMs,
      timeoutMs: args.timeoutMs,
      dryRun: args.dryRun,
      log,
      now: io.now,
      wording: wordRemedyAction,
      reattach: args.reattach ? { resume: args.resume } : undefined,
    },
    diskAliases: (socket) => args.domainOf.get(socket)?.disks,
    trace: args.trace ? (socket) => traceTo(io, socket) : undefined,
    listen: args.listen,
    listenDir: args.listenDir,
    textfile,
    signal: io.signal ?? new AbortController().signal,
  });
  await supervisor.run();
  return 0;
}

function checkDirectory(dir: string): void {
  let isDirectory = false;
  try {
    isDirectory = Deno.statSync(dir).isDirectory;
  } catch {
    // Missing or unreadable: said below.
  }
  if (!isDirectory) {
    throw new ProxyListenError(
      `Cannot serve proxies in ${JSON.stringify(dir)}: it is not a directory`,
      [
        "create it first, e.g. with systemd's RuntimeDirectory=",
      ],
    );
  }
}
