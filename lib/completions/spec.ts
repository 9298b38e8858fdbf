/**
 * What the shell completion scripts complete. The CLI fills this in from its option
 * declarations (lib/cli/options.ts) and hands it to the generators, which know no flag by name.
 */

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
  name: string;
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
