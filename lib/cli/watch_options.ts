/**
 * The options only the long-lived and the repairing commands take (watch, reattach): probing,
 * stalls, reattaching, the proxy. Declared as options.ts declares the rest, and listed there in
 * this place, which is where help lists them.
 */

import type { ValueCompletion } from "../completions/spec.ts";
import type { OptionDeclaration } from "./options.ts";

/** How a shell completes a number of seconds: it does not. */
export const SECONDS: ValueCompletion = { kind: "none", label: "seconds" };

/** The options of watch (and reattach's --resume), in the order help lists them. */
export const WATCH_OPTIONS = {
  "interval": {
    type: "string",
    valueName: "SECONDS",
    summary: "seconds between probes",
    help: "seconds between probes",
    default: 1,
    completion: SECONDS,
    commands: ["watch"],
  },
  "hang-after": {
    type: "string",
    valueName: "SECONDS",
    summary: "seconds without an answer that count as a hang",
    help: "seconds a probe may stay unanswered before it is a hang",
    default: 5,
    completion: SECONDS,
    commands: ["watch"],
  },
  "stall-after": {
    type: "string",
    valueName: "SECONDS",
    summary: "seconds a block job or migration may stand still before its dead peer is yanked",
    help:
      "a backup, mirror, stream or commit job whose offset, or a migration whose bytes sent, stand still this long while the main loop answers is a stall: watch judges the matched peers behind it and yanks the dead ones",
    default: "off",
    completion: SECONDS,
    commands: ["watch"],
  },
  "resume": {
    type: "boolean",
    summary: "resume a VM paused by an I/O error once its disks are reattached",
    help:
      "resume (cont) a VM that an I/O error paused (status io-error, from werror/rerror=stop), only when every disk that waits is on NBD nodes none of which is still yanked",
    helpIn: {
      watch:
        "with --reattach: resume a VM paused by an I/O error once every disk it waits on is reattached",
    },
    commands: ["reattach", "watch"],
  },
  "reattach": {
    type: "boolean",
    summary: "after a recovery, reattach the yanked NBD nodes once their server answers",
    help:
      "after a recovery yanked NBD nodes, reattach them (as yank reattach) once their server answers, retrying 1 s doubling to 60 s; each attempt is logged and counted in --textfile",
    commands: ["watch"],
  },
  "listen": {
    type: "string",
    valueName: "PATH",
    summary: "serve the yank-only QMP proxy socket at this path",
    help: "serve the yank-only proxy socket at PATH (one --socket only)",
    completion: { kind: "none", label: "address" },
    commands: ["watch"],
  },
  "listen-dir": {
    type: "string",
    valueName: "DIR",
    summary: "serve one yank-only proxy per monitor in this directory",
    help: "serve one yank-only proxy per watched monitor in DIR",
    completion: { kind: "file", label: "directory" },
    commands: ["watch"],
  },
} as const satisfies Record<string, OptionDeclaration>;
