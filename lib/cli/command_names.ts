/**
 * The commands, as typed, with what each does in one line and its operands as Usage writes them.
 * The options each takes are declared with the options (options.ts).
 */

/** The commands, as typed. */
export const COMMANDS = [
  "list",
  "chardev",
  "block-node",
  "migration",
  "check",
  "watch",
  "reattach",
  "completions",
  "help",
] as const;

/** A command name. `yank` alone (selector form) is "yank". */
export type CommandName = typeof COMMANDS[number] | "yank";

/** One line per command, for the overview and completion scripts; "yank" is the selector form. */
export const COMMAND_SUMMARIES: Record<CommandName, string> = {
  "yank": "yank every instance the patterns match",
  "list": "list the yank instances",
  "chardev": "yank socket chardevs by id",
  "block-node": "yank NBD block nodes by node-name",
  "migration": "yank the running migration",
  "check": "health probe for cron and monitoring",
  "watch": "watchdog that yanks when the main loop hangs",
  "reattach": "bring yanked NBD disks back once their server answers",
  "completions": "print a shell completion script",
  "help": "help for one command",
};

/** The operands of each command that takes some, as its Usage line writes them. */
export const COMMAND_OPERANDS: Partial<Record<CommandName, string>> = {
  "chardev": "ID...",
  "block-node": "NODE-NAME...",
  "completions": "bash|zsh|fish",
  "help": "[COMMAND]",
};

/** The selector form and the commands that yank. */
export const YANKING = ["yank", "chardev", "block-node", "migration"] as const;

/** Every command that talks to QEMU. */
export const QEMU_COMMANDS = [...YANKING, "list", "check", "watch", "reattach"] as const;

/** Output formats of `check`. */
export const CHECK_FORMATS = ["text", "json", "prometheus"] as const;

/** An output format of `check`. */
export type CheckFormat = typeof CHECK_FORMATS[number];
