/** Pieces several help topics share: the exit codes, the example VM, and run constructors. */

import type { OptionName } from "../options.ts";
import type { Example, Invocation, Run, Section } from "./model.ts";

/** Lines at the left margin. */
export function prose(...lines: string[]): Run {
  return { kind: "prose", lines };
}

/** Lines shown as they are, indented. */
export function shown(...lines: string[]): Run {
  return { kind: "shown", lines };
}

/** The topic's options (those `pick` accepts). */
export function options(pick?: (name: OptionName) => boolean): Run {
  return pick ? { kind: "options", pick } : { kind: "options" };
}

/** Examples, one after another. */
export function examples(...list: Example[]): Run {
  return { kind: "examples", examples: list };
}

/** A `$ yank ...` example and what it prints. */
export function run(command: string, ...output: string[]): Example {
  return { kind: "run", command, output };
}

/** A command line shown without a prompt (one that runs for long, or inside another line). */
export function line(invocation: Invocation | string, ...output: string[]): Example {
  return typeof invocation === "string"
    ? { kind: "line", command: invocation, output }
    : { kind: "line", ...invocation, output };
}

/** A comment among examples. */
export function comment(text: string): Example {
  return { kind: "comment", text };
}

/** The exit codes of the commands that talk to QEMU. */
export const EXIT_CODES: Section = {
  heading: "Exit codes",
  paragraphs: [[shown(
    "0  success",
    "1  QEMU returned an error (or stdout could not be written)",
    "2  usage error (including naming a monitor's chardev without --force); (reattach) a node",
    "   that cannot be reattached safely",
    "3  instance not found, or a selector matched nothing; a --domain not running or without",
    "   a yank monitor; (reattach) nothing yanked, or the server does not answer yet",
    "4  cannot connect, not a QMP server, or connection lost; libvirt's status XML unreadable",
    "5  timed out: no greeting (another client holds the monitor, or QEMU is still starting),",
    "   or QEMU's main loop is hung",
    "6  unsupported: this QEMU has no yank (older than 6.0), or (watch) the monitor offers no oob",
    "   or refuses query-status (a yank proxy, say)",
  )]],
};

/** The paragraph that says how a monitor's chardev is spared and how a yank gets through. */
export const SELECTOR_NOTES = [
  "Names are exact or shell-style globs (*, ?, [a-z]). A glob never matches a monitor's",
  "chardev: the one yank talks through (yanking it cuts yank's own connection), any chardev whose",
  'id holds "mon", "qmp" or "hmp" in any case (QEMU\'s compat_monitorN, libvirt\'s charmonitor, whose',
  "cut makes libvirt kill the VM, Proxmox's qmp, a yankmon), and those named with --spare P.",
  'Naming one exactly needs --force. All matches go into one "yank" command, which QEMU runs',
  "out-of-band, so it works even while QEMU's main loop is busy.",
];

/** The VM the list, chardev and block-node examples talk to (tests/cli_help_test.ts starts it). */
export const EXAMPLE_VM: readonly Run[] = [
  prose("The examples talk to a VM started with"),
  shown(
    "-qmp unix:/run/vm1.qmp,server=on,wait=off",
    "-chardev socket,id=charnet0,host=10.0.0.2,port=4444      (and charnet1 likewise)",
    "-blockdev driver=nbd,node-name=nbd0,server.type=unix,server.path=/run/nbd0.sock",
  ),
];
