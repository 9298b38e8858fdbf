/**
 * The exit codes, a contract with scripts (README and --help list them), and the one place
 * that maps failures to them.
 */

import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpTimeoutError,
} from "../qmp/errors.ts";
import { GlobSyntaxError } from "../yank/match.ts";
import { printable } from "../render/printable.ts";
import {
  InstanceNotFoundError,
  MalformedReplyError,
  MonitorChardevRefusedError,
  NothingMatchedError,
  YankUnsupportedError,
} from "../yank/yank.ts";

/** Exit codes of every command but `check`. */
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

/** The exit code for a failure. */
export function exitCodeFor(error: unknown): ExitCode {
  if (
    error instanceof UsageError || error instanceof GlobSyntaxError ||
    error instanceof MonitorChardevRefusedError
  ) return ExitCode.usage;
  if (error instanceof InstanceNotFoundError || error instanceof NothingMatchedError) {
    return ExitCode.notFound;
  }
  if (
    error instanceof QmpConnectError || error instanceof QmpProtocolError ||
    error instanceof QmpDisconnectedError || error instanceof MalformedReplyError
  ) return ExitCode.connection;
  if (error instanceof QmpTimeoutError) return ExitCode.timeout;
  if (error instanceof YankUnsupportedError) return ExitCode.unsupported;
  if (error instanceof QmpCommandError) return ExitCode.qemuError;
  return ExitCode.qemuError;
}

/**
 * The one-line message for a failure; unexpected errors are labelled as bugs. Messages quote
 * text from the peer (error descriptions, instance names), so control characters are escaped.
 */
export function messageFor(error: unknown): string {
  const known = error instanceof UsageError || error instanceof GlobSyntaxError ||
    error instanceof QmpCommandError || exitCodeFor(error) !== ExitCode.qemuError;
  const text = error instanceof Error ? error.message : String(error);
  const line = printable(text.replace(/\s*\n\s*/g, " "));
  return known ? line : `Internal error: ${line} (please report this as a bug in yank)`;
}
