/**
 * The options, declared once: each with its name, short letter, value, summary, help text,
 * default, completion and the commands that take it (the commands are in command_names.ts).
 * The parser (args.ts), the Usage lines and option blocks of `--help` and the manual pages
 * (help/), and the shell completion scripts (completion_spec.ts) are generated from them.
 */

import type { ValueCompletion } from "../completions/spec.ts";
import { SECONDS, WATCH_OPTIONS } from "./watch_options.ts";
import {
  CHECK_FORMATS,
  type CommandName,
  COMMANDS,
  QEMU_COMMANDS,
  YANKING,
} from "./command_names.ts";

export {
  CHECK_FORMATS,
  type CheckFormat,
  COMMAND_OPERANDS,
  COMMAND_SUMMARIES,
  type CommandName,
  COMMANDS,
  QEMU_COMMANDS,
} from "./command_names.ts";

/** Everything said about one option. */
export interface OptionDeclaration {
  /** The one-letter form, without the dash. */
  readonly short?: string;
  /** "boolean" for a flag, "string" for an option that takes a value (args.ts checks it). */
  readonly type: "boolean" | "string";
  /** Whether it may be given more than once. */
  readonly repeatable?: boolean;
  /** The placeholder `--help` shows for the value: PATH, SECONDS. */
  readonly valueName?: string;
  /** One line, for the completion scripts. */
  readonly summary: string;
  /** What `--help` says about it; "\n" starts a new line, and the first line gets the notes. */
  readonly help: string;
  /** What the help of some command says instead, where the option does more there. */
  readonly helpIn?: Partial<Record<CommandName, string>>;
  /** The default, as `--help` shows it; args.ts reads the numeric ones. */
  readonly default?: string | number;
  /** How a shell completes the value; a value is not completed when this is absent. */
  readonly completion?: ValueCompletion;
  /** The commands that take it ("yank" is the selector form). */
  readonly commands: readonly CommandName[];
  /** Taken but never shown: the completion scripts use it, users need not. */
  readonly hidden?: boolean;
}

/** Every option, in the order help lists them. */
export const OPTIONS = {
  "chardev": {
    type: "string",
    repeatable: true,
    valueName: "P",
    summary: "yank chardevs with this id or glob",
    help: "chardevs whose id is P, or matches the glob P",
    helpIn: { watch: "yank chardevs whose id is P, or matches the glob P, on a hang" },
    completion: { kind: "names", label: "chardev id", type: "chardev" },
    commands: ["yank", "watch"],
  },
  "block-node": {
    type: "string",
    repeatable: true,
    valueName: "P",
    summary: "yank NBD block nodes with this node-name or glob",
    help: "NBD block nodes whose node-name is P or matches P",
    helpIn: {
      watch: "yank NBD block nodes matching P on a hang",
      reattach: "reattach the yanked NBD nodes whose node-name is P or matches P",
    },
    completion: { kind: "names", label: "node-name", type: "block-node" },
    commands: ["yank", "watch", "reattach"],
  },
  "migration": {
    type: "boolean",
    summary: "yank the running migration",
    help: "the running migration",
    helpIn: { watch: "yank the running migration on a hang" },
    commands: ["yank", "watch"],
  },
  "disk": {
    type: "string",
    repeatable: true,
    valueName: "D",
    summary: "yank the NBD nodes behind this disk (vda, or QEMU's device id)",
    help:
      "the NBD nodes behind disk D: QEMU's device id (virtio-disk0) or, with --domain, libvirt's target (vda); exact or glob",
    helpIn: {
      watch:
        "yank the NBD nodes behind disk D on a hang: vda with --domain, or QEMU's device id, learnt while QEMU answers",
      reattach:
        "reattach the yanked NBD nodes behind disk D: QEMU's device id or, with --domain, libvirt's target (vda)",
    },
    completion: { kind: "none", label: "disk" },
    commands: ["yank", "watch", "reattach"],
  },
  "spare": {
    type: "string",
    repeatable: true,
    valueName: "P",
    summary: "never let a glob match chardevs with this id or glob",
    help: "spare chardevs matching P from globs, like monitors'",
    helpIn: { watch: "never yank chardevs matching P, like monitors'" },
    completion: { kind: "none", label: "chardev id or glob" },
    commands: ["yank", "chardev", "watch"],
  },
  "dry-run": {
    type: "boolean",
    summary: "print what would be yanked, yank nothing",
    help: "print what would be yanked, yank nothing",
    helpIn: {
      watch: "log what would be yanked, yank nothing",
      reattach:
        "check that each yanked node's server answers and print what would be reattached; change nothing",
    },
    commands: [...YANKING, "watch", "reattach"],
  },
  "force": {
    type: "boolean",
    summary: "allow yanking the monitor's own chardev",
    help: "allow yanking a monitor's chardev named exactly (globs never match one)",
    // Only "yank chardev" and the selector form can name a monitor's chardev.
    commands: ["yank", "chardev"],
  },
  "json": {
    type: "boolean",
    summary: "print JSON",
    help:
      'print the yanked instances as JSON; with --dry-run, the plan, each instance marked "dry-run": true',
    helpIn: {
      list: "print JSON instead of a table",
      migration:
        'print the yanked instance as JSON; with --dry-run, the plan, marked "dry-run": true',
      reattach:
        'print what was reattached (and resumed) as JSON; with --dry-run, the plan, each entry marked "dry-run": true',
    },
    commands: [...YANKING, "list", "reattach"],
  },
  "format": {
    type: "string",
    valueName: "FORMAT",
    summary: "output format",
    help: "how to print the state:\n" +
      "text: one status line with perfdata;\n" +
      "json: one object (state, socket, latency_seconds, instances, message...);\n" +
      "prometheus: node_exporter textfile format (yank_up, yank_state, " +
      "yank_main_loop_latency_seconds, yank_instances, yank_oob)",
    default: "text",
    completion: { kind: "words", label: "format", words: CHECK_FORMATS },
    commands: ["check"],
  },
  "textfile": {
    type: "string",
    valueName: "PATH",
    summary: "write Prometheus metrics to this file atomically",
    help:
      "write the prometheus metrics to PATH atomically (a temp file in the same directory, then rename) and print nothing; the exit code still tells the state. For node_exporter's --collector.textfile.directory.",
    helpIn: {
      watch:
        "keep check's prometheus metrics of every watched monitor in PATH, written atomically, each labelled socket=\"...\", plus yank_watch_running 1; a monitor disconnected or unreachable reads yank_up 0 and check's state for it; a vanished one yank_up 0, yank_state 3 for 10 minutes; when watch ends every monitor reads yank_watch_running 0, yank_up 0 and yank_state 3 (UNKNOWN). It also holds yank_hung, counters of hangs, recoveries and yanked instances by type and reason (yank_hangs_total, yank_recoveries_total, yank_instances_yanked_total), yank_last_recovery_duration_seconds, and yank_watch_up, and is rewritten at least every minute while watch runs",
    },
    completion: { kind: "file", label: "file" },
    commands: ["check", "watch"],
  },
  ...WATCH_OPTIONS,
  "domain": {
    type: "string",
    repeatable: true,
    valueName: "NAME",
    summary: "libvirt domain (name or glob): use its yank monitor",
    help:
      "a libvirt domain (name or glob): use the QMP monitor its <qemu:commandline> adds for yank, found in libvirt's status XML in /run/libvirt/qemu (needs root); never libvirt's own monitor",
    completion: { kind: "none", label: "libvirt domain" },
    commands: QEMU_COMMANDS,
  },
  "socket": {
    short: "s",
    type: "string",
    repeatable: true,
    valueName: "PATH",
    summary: "QMP monitor socket (path or glob)",
    help:
      "QMP monitor socket; repeat it or use a glob for many VMs; a path that exists is that socket, even with *, ? or [ in its name",
    helpIn: {
      watch: "the dedicated monitor sockets to watch; a glob watches every match",
      completions: "with --list-names: the QMP socket to ask",
    },
    default: '$YANK_SOCKET, several separated by ":"',
    completion: { kind: "file", label: "QMP socket" },
    commands: [...QEMU_COMMANDS, "completions"],
  },
  "timeout": {
    short: "t",
    type: "string",
    valueName: "SECONDS",
    summary: "bound on the whole run, in seconds",
    help: "bound on the whole run: connect, greeting, negotiation, commands",
    helpIn: {
      watch: "bound on connecting, negotiating and each out-of-band command",
      completions: "with --list-names: how long to wait for QEMU",
    },
    default: 5,
    completion: SECONDS,
    commands: [...QEMU_COMMANDS, "completions"],
  },
  "trace": {
    type: "boolean",
    summary: "print every QMP message on stderr",
    help: "print every QMP message sent and received on stderr",
    commands: QEMU_COMMANDS,
  },
  "help": {
    short: "h",
    type: "boolean",
    summary: "show help",
    help: "show help",
    commands: [...QEMU_COMMANDS, "completions", "help"],
  },
  "version": {
    short: "V",
    type: "boolean",
    summary: "print the version",
    help: "print the version",
    commands: ["yank"],
  },
  "list-names": {
    type: "string",
    valueName: "TYPE",
    summary: "print the names of one instance type, one a line",
    help: "print the names of the instances of TYPE, one a line",
    commands: ["completions"],
    hidden: true,
  },
} as const satisfies Record<string, OptionDeclaration>;

/** An option's long name, without the dashes. */
export type OptionName = keyof typeof OPTIONS;

/** The declarations, seen through their common type. */
const DECLARED: Record<OptionName, OptionDeclaration> = OPTIONS;

/** Every option's name, in the order help lists them. */
export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

/** The declaration of one option. */
export function option(name: OptionName): OptionDeclaration {
  return DECLARED[name];
}

/** Which options each command takes, in the order help lists them. */
export const COMMAND_OPTIONS: Record<CommandName, readonly OptionName[]> = (() => {
  const table = {} as Record<CommandName, readonly OptionName[]>;
  for (const command of ["yank", ...COMMANDS] as const) {
    table[command] = OPTION_NAMES.filter((name) => DECLARED[name].commands.includes(command));
  }
  return table;
})();
