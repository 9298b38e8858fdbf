/**
 * What the shell completion scripts complete, derived from the parser's own tables in args.ts
 * so that a new command or option is completed without touching the generators.
 */

import {
  CHECK_FORMATS,
  COMMAND_OPTIONS,
  COMMAND_SUMMARIES,
  type CommandName,
  COMMANDS,
  HIDDEN_OPTIONS,
  OPTION_SUMMARIES,
  type OptionName,
  OPTIONS,
} from "../cli/args.ts";

/** The shells `yank completions` writes scripts for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** A shell `yank completions` writes a script for. */
export type Shell = typeof SHELLS[number];

/**
 * How to complete a value: not at all (a number, say), a file name, the names of live yank
 * instances (asked of QEMU through `yank completions --list-names TYPE`), or fixed words.
 */
export type ValueCompletion =
  | { kind: "none"; label: string }
  | { kind: "file"; label: string }
  | { kind: "names"; label: string; type: "chardev" | "block-node" }
  | { kind: "words"; label: string; words: readonly string[] };

/** One option of one command. */
export interface OptionSpec {
  /** Long name without dashes, e.g. "socket". */
  long: string;
  /** Short letter without the dash, if any. */
  short: string | undefined;
  summary: string;
  /** Whether it may be given more than once (--socket, --chardev, --block-node). */
  repeatable: boolean;
  /** Undefined for a flag; how to complete its value otherwise. */
  value: ValueCompletion | undefined;
}

/** One command: its options and what its operands are. */
export interface CommandSpec {
  /** As typed; "yank" is the selector form (no command word). */
  name: CommandName;
  summary: string;
  options: OptionSpec[];
  /** How to complete operands; undefined when the command takes none. */
  operands: ValueCompletion | undefined;
}

/** Everything a generator needs. */
export interface CompletionSpec {
  /** The selector form, `yank [--chardev P]... [--block-node P]...`: also what is offered first. */
  selectorForm: CommandSpec;
  /** The commands, in the order `yank --help` lists them. */
  commands: CommandSpec[];
}

const SECONDS: ValueCompletion = { kind: "none", label: "seconds" };

/** How the value of each option that takes one is completed. */
const OPTION_VALUES: Partial<Record<OptionName, ValueCompletion>> = {
  "socket": { kind: "file", label: "QMP socket" },
  "timeout": SECONDS,
  "interval": SECONDS,
  "hang-after": SECONDS,
  "stall-after": SECONDS,
  "chardev": { kind: "names", label: "chardev id", type: "chardev" },
  "block-node": { kind: "names", label: "node-name", type: "block-node" },
  "format": { kind: "words", label: "format", words: CHECK_FORMATS },
  "textfile": { kind: "file", label: "file" },
  "listen": { kind: "none", label: "address" },
  "spare": { kind: "none", label: "chardev id or glob" },
  "domain": { kind: "none", label: "libvirt domain" },
  "disk": { kind: "none", label: "disk" },
  "listen-dir": { kind: "file", label: "directory" },
};

const OPERANDS: Partial<Record<CommandName, ValueCompletion>> = {
  "chardev": { kind: "names", label: "chardev id", type: "chardev" },
  "block-node": { kind: "names", label: "node-name", type: "block-node" },
  "completions": { kind: "words", label: "shell", words: SHELLS },
  "help": { kind: "words", label: "command", words: COMMANDS },
};

function optionSpec(name: OptionName): OptionSpec {
  const config: { type: string; short?: string; multiple?: boolean } = OPTIONS[name];
  return {
    long: name,
    short: config.short,
    summary: OPTION_SUMMARIES[name],
    repeatable: config.multiple === true,
    value: config.type === "string"
      ? (OPTION_VALUES[name] ?? { kind: "none", label: "value" })
      : undefined,
  };
}

function commandSpec(name: CommandName, summary: string): CommandSpec {
  return {
    name,
    summary,
    options: COMMAND_OPTIONS[name].filter((o) => !HIDDEN_OPTIONS.includes(o)).map(optionSpec),
    operands: OPERANDS[name],
  };
}

/** The completion spec of this version of yank. */
export function completionSpec(): CompletionSpec {
  return {
    selectorForm: commandSpec("yank", "yank every instance the patterns match"),
    commands: COMMANDS.map((name) => commandSpec(name, COMMAND_SUMMARIES[name])),
  };
}

/** Every option that takes a value, across all commands, each once. */
export function valueOptions(spec: CompletionSpec): OptionSpec[] {
  const seen = new Map<string, OptionSpec>();
  for (const command of [spec.selectorForm, ...spec.commands]) {
    for (const option of command.options) {
      if (option.value && !seen.has(option.long)) seen.set(option.long, option);
    }
  }
  return [...seen.values()];
}
