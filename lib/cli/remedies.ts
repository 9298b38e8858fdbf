/**
 * How the CLI words what to do about a failure: the actions of remedies (lib/errors.ts) in the
 * terms of its options and commands. Advice given as an action is worded here; a few failures
 * below cli/ carry finished text that names a flag themselves (a socket never tried says "raise
 * --timeout"; watch refuses --chardev globs that might match its own monitor).
 */

import { describeFailure, type RemedyAction } from "../errors.ts";

/** An action of a remedy, in the CLI's words. */
export function wordRemedyAction(action: RemedyAction): string {
  switch (action.action) {
    case "check-socket-path":
      return "check the path given with --socket";
    case "longer-timeout":
      return "try a longer --timeout";
    case "watch-second-monitor":
      return `use "yank watch" on a second monitor`;
    case "list-instances":
      return `run "yank list" to see the instances`;
    case "list-yankable":
      return `see "yank list" for what can be yanked`;
    case "force":
      return "add --force to do it anyway";
    case "name-socket":
      return "name the monitor with --socket";
    case "proxy-out-of-fds":
      return `if it is a "yank watch --listen" socket, that watch is out of file descriptors: see its log`;
    case "proxy-ended":
      return "yank watch stopped, or closed this client for breaking a limit: see its log";
    case "watch-log":
      return "see the log of yank watch";
    case "libvirt-help":
      return `see "yank --help" and README, "yank under libvirt"`;
    case "print-metrics":
      return "to print the metrics, use --format prometheus without --textfile";
    case "check-listen":
      return "check --listen";
    case "listen-elsewhere":
      return "choose another --listen path";
    case "listen-inside":
      return `give --listen the path of a new socket inside it, e.g. ${
        JSON.stringify(action.example)
      }`;
    case "listen-not-link":
      return "give --listen the path of a new socket, not a link";
    case "stop-other-watch":
      return "is another yank watch serving it? stop it";
  }
}

/** A failure as the CLI says it: "What happened (what to do)", flags named. */
export function describeError(error: unknown): string {
  return describeFailure(error, wordRemedyAction);
}
