/**
 * The exit codes, a contract with scripts (docs/reference.md and --help list them), and the one
 * table that maps a kind of failure to one of them.
 */

import { type ErrorKind, YankError } from "../errors.ts";
import { printable } from "../render/printable.ts";
import { STATE_EXIT_CODES } from "../health/state.ts";
import { describeError } from "./remedies.ts";

/**
 * Exit codes of every command but `check`, which uses the Monitoring Plugins' codes instead
 * (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; see lib/health/state.ts).
 */
export const ExitCode = {
  ok: 0,
  qemuError: 1,
  /** Also a reattach that cannot be done safely (no parent node, a server shared by nodes). */
  usage: 2,
  /** Also nothing to reattach: a node never yanked, or a server that does not answer yet. */
  notFound: 3,
  connection: 4,
  timeout: 5,
  unsupported: 6,
} as const;

/** One of the documented exit codes. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** The exit code of each kind of failure. */
const KIND_EXIT_CODES: Readonly<Record<ErrorKind, ExitCode>> = {
  failed: ExitCode.qemuError,
  usage: ExitCode.usage,
  "not-found": ExitCode.notFound,
  connection: ExitCode.connection,
  timeout: ExitCode.timeout,
  unsupported: ExitCode.unsupported,
};

/** The command line is wrong; the message says how. */
export class UsageError extends YankError {
  override name = "UsageError";
  override readonly kind = "usage";
}

/**
 * The exit code for a failure of `command`. Whatever stops `yank check` from judging a monitor
 * (a usage error, an unwritable --textfile, a bug) is UNKNOWN to a monitoring system.
 */
export function exitCodeFor(error: unknown, command?: string): number {
  if (command === "check") return STATE_EXIT_CODES.UNKNOWN;
  return error instanceof YankError ? KIND_EXIT_CODES[error.kind] : ExitCode.qemuError;
}

/**
 * The one-line message for a failure; unexpected errors are labelled as bugs. Messages quote
 * text from the peer (error descriptions, instance names), so control characters are escaped.
 */
export function messageFor(error: unknown): string {
  const line = printable(describeError(error).replace(/\s*\n\s*/g, " "));
  return error instanceof YankError
    ? line
    : `Internal error: ${line} (please report this as a bug in yank)`;
}
