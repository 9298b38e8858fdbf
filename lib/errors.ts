/**
 * The failures yank knows, as data: what kind each is (the CLI turns a kind into an exit code)
 * and what the user can do about it. Library code says what happened and what to do in plain
 * words; what only a front end can word (its options and commands) is an action, and the front
 * end words it (lib/cli/remedies.ts for the CLI).
 */

/** What kind of failure an error is: one exit code per kind (see lib/cli/exit_codes.ts). */
export type ErrorKind =
  | "usage"
  | "not-found"
  | "connection"
  | "timeout"
  | "unsupported"
  | "failed";

/** Something the user can do that the front end words in its own terms. */
export type RemedyAction =
  /** Check the monitor socket path given. */
  | { action: "check-socket-path" }
  /** Allow more time. */
  | { action: "longer-timeout" }
  /** Keep a watchdog connected to a second monitor, which can yank through a hang. */
  | { action: "watch-second-monitor" }
  /** List the yank instances. */
  | { action: "list-instances" }
  /** List what can be yanked. */
  | { action: "list-yankable" }
  /** Ask again, forcing it. */
  | { action: "force" }
  /** Name the monitor socket directly. */
  | { action: "name-socket" }
  /** The socket may be a watchdog's proxy out of file descriptors; its log says. */
  | { action: "proxy-out-of-fds" }
  /** The watchdog behind a proxy stopped, or closed this client for a broken limit. */
  | { action: "proxy-ended" }
  /** Read the watchdog's log. */
  | { action: "watch-log" }
  /** Read how to give a libvirt domain a monitor for yank. */
  | { action: "libvirt-help" }
  /** Print the metrics instead of writing a file. */
  | { action: "print-metrics" }
  /** Check the path the proxy was to listen on. */
  | { action: "check-listen" }
  /** Listen on another path. */
  | { action: "listen-elsewhere" }
  /** Listen on a new socket inside this directory, e.g. `example`. */
  | { action: "listen-inside"; example: string }
  /** Listen on a new socket, not a symlink. */
  | { action: "listen-not-link" }
  /** Another watchdog may serve the path: stop it. */
  | { action: "stop-other-watch" };

/**
 * What to do about a failure, said in order: plain advice (naming no option or command) and
 * actions, joined as they stand ("is the VM overloaded? " then the longer-timeout action).
 */
export type Remedy = readonly (string | RemedyAction)[];

/** Words an action in a front end's terms. */
export type RemedyWording = (action: RemedyAction) => string;

/** A failure yank knows: its message says what happened, `remedy` what to do. */
export abstract class YankError extends Error {
  /** What kind of failure this is. */
  abstract readonly kind: ErrorKind;
  /** What to do about it; empty when there is nothing to say. */
  readonly remedy: Remedy;

  /** `finding`: one sentence saying what happened, without the remedy. */
  constructor(finding: string, remedy: Remedy = []) {
    super(finding);
    this.remedy = remedy;
  }
}

/**
 * The remedy in words ("" when there is none). Without `word`, a remedy that needs the front
 * end's words is left out rather than said in half.
 */
export function remedyText(remedy: Remedy, word?: RemedyWording): string {
  if (word === undefined && remedy.some((part) => typeof part !== "string")) return "";
  return remedy.map((part) => typeof part === "string" ? part : word!(part)).join("");
}

/**
 * One line for a failure: "What happened (what to do)", or only what happened when there is no
 * remedy to say. Anything but a YankError is said as its message.
 */
export function describeFailure(error: unknown, word?: RemedyWording): string {
  const finding = error instanceof Error ? error.message : String(error);
  const remedy = error instanceof YankError ? remedyText(error.remedy, word) : "";
  return remedy === "" ? finding : `${finding} (${remedy})`;
}
