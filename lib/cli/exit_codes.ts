/**
 * The exit codes, a contract with scripts (README and --help list them), and the one place
 * that maps failures to them.
 */

import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpProxyUnavailableError,
  QmpTimeoutError,
  QmpTurnedAwayError,
} from "../qmp/errors.ts";
import { GlobSyntaxError } from "../yank/match.ts";
import { printable } from "../render/printable.ts";
import { STATE_EXIT_CODES } from "../health/state.ts";
import { TextfileError } from "../health/textfile.ts";
import { UnwatchableError } from "../watch/errors.ts";
import { ProxyListenError } from "../proxy/errors.ts";
import type { CommandName } from "./options.ts";
import { SocketNotTriedError } from "./sockets.ts";
import { OutputError } from "./io.ts";
import { DomainNotFoundError, LibvirtAccessError, NoYankMonitorError } from "../libvirt/domains.ts";
import {
  InstanceNotFoundError,
  MalformedReplyError,
  MonitorChardevRefusedError,
  NothingMatchedError,
  YankUnsupportedError,
} from "../yank/yank.ts";

/**
 * Exit codes of every command but `check`, which uses the Monitoring Plugins' codes instead
 * (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; see lib/health/state.ts).
 */
export const ExitCode = {
  ok: 0,
  qemuError: 1,
  usage: 2,
  notFound: 3,
  connection: 4,
  timeout: 5,
  unsupported: 6,
} as const;

/** One of the documented exit codes. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** The command line is wrong; the message says how. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * The exit code for a failure of `command`. Whatever stops `yank check` from judging a monitor
 * (a usage error, an unwritable --textfile, a bug) is UNKNOWN to a monitoring system.
 */
export function exitCodeFor(error: unknown, command?: CommandName): number {
  if (command === "check") return STATE_EXIT_CODES.UNKNOWN;
  if (
    error instanceof UsageError || error instanceof GlobSyntaxError ||
    error instanceof MonitorChardevRefusedError
  ) return ExitCode.usage;
  if (
    error instanceof InstanceNotFoundError || error instanceof NothingMatchedError ||
    error instanceof DomainNotFoundError || error instanceof NoYankMonitorError
  ) return ExitCode.notFound;
  if (error instanceof LibvirtAccessError) return ExitCode.connection;
  if (error instanceof QmpConnectError && error.failure === "busy") return ExitCode.timeout;
  if (
    error instanceof QmpConnectError || error instanceof QmpProtocolError ||
    error instanceof QmpDisconnectedError || error instanceof MalformedReplyError ||
    error instanceof QmpTurnedAwayError || error instanceof QmpProxyUnavailableError
  ) return ExitCode.connection;
  if (error instanceof QmpTimeoutError || error instanceof SocketNotTriedError) {
    return ExitCode.timeout;
  }
  if (error instanceof YankUnsupportedError || error instanceof UnwatchableError) {
    return ExitCode.unsupported;
  }
  if (error instanceof TextfileError) return ExitCode.qemuError;
  if (error instanceof ProxyListenError) return ExitCode.connection;
  if (error instanceof QmpCommandError) return ExitCode.qemuError;
  return ExitCode.qemuError;
}

/**
 * The one-line message for a failure; unexpected errors are labelled as bugs. Messages quote
 * text from the peer (error descriptions, instance names), so control characters are escaped.
 */
export function messageFor(error: unknown): string {
  const known = error instanceof UsageError || error instanceof GlobSyntaxError ||
    error instanceof QmpCommandError || error instanceof TextfileError ||
    error instanceof ProxyListenError || error instanceof OutputError ||
    exitCodeFor(error) !== ExitCode.qemuError;
  const text = error instanceof Error ? error.message : String(error);
  const line = printable(text.replace(/\s*\n\s*/g, " "));
  return known ? line : `Internal error: ${line} (please report this as a bug in yank)`;
}
