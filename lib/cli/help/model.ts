/**
 * Help as data: a topic is its title and sections; a section is paragraphs; a paragraph is runs
 * of prose, lines shown as they are, an option block, examples or the Usage lines. The text of
 * `--help` (text.ts) and the manual pages (../man.ts) are two renderings of the same topics; the
 * Usage lines and option blocks are generated from the declarations in ../options.ts.
 */

import {
  COMMAND_OPERANDS,
  COMMAND_OPTIONS,
  COMMAND_SUMMARIES,
  type CommandName,
  option,
  type OptionName,
  QEMU_COMMANDS,
} from "../options.ts";

/** The program's version. */
export const VERSION = "0.1.0";

/** Help lines wrap at this width. */
export const WIDTH = 96;

/**
 * One shell line that runs yank: what comes before the command (a prompt, a crontab's fields),
 * the yank command itself (with any NAME=value before it), and what follows (a redirection).
 * A command given as several lines is written with shell line continuations.
 */
export interface Invocation {
  readonly before?: string;
  readonly command: string | readonly string[];
  readonly after?: string;
  /** What yank prints, as shown under the command. */
  readonly output?: readonly string[];
}

/** An example: a `$ ` command (with what it prints), a line without prompt, or a comment. */
export type Example =
  | ({ readonly kind: "run" } & Invocation)
  | ({ readonly kind: "line" } & Invocation)
  | { readonly kind: "comment"; readonly text: string };

/** A run of lines inside a paragraph; runs follow one another without a blank line. */
export type Run =
  /** Lines at the left margin, which a pager may fill. */
  | { readonly kind: "prose"; readonly lines: readonly string[] }
  /** Lines shown as they are, indented (QEMU options, tables, lists). */
  | { readonly kind: "shown"; readonly lines: readonly string[] }
  /** The options the topic's command takes (those `pick` accepts). */
  | { readonly kind: "options"; readonly pick?: (name: OptionName) => boolean }
  /** Examples, one after another. */
  | { readonly kind: "examples"; readonly examples: readonly Example[] }
  /** The topic's command's Usage line, generated from the options it takes. */
  | { readonly kind: "usage" }
  /** The overview's list of commands, each with its Usage line and summary. */
  | { readonly kind: "commands"; readonly commands: readonly CommandName[] };

/**
 * A section: an optional heading ("Options"), then paragraphs separated by blank lines. One
 * without a heading describes the command (a manual page's DESCRIPTION).
 */
export interface Section {
  readonly heading?: string;
  /** Whether the first paragraph starts on the heading's line ("Usage: yank list ..."). */
  readonly inline?: boolean;
  readonly paragraphs: readonly (readonly Run[])[];
}

/** One help topic: `yank help COMMAND`, or the overview ("yank"). */
export interface Topic {
  readonly command: CommandName;
  /** What the command does: the first line reads "yank COMMAND: TITLE". */
  readonly title: string;
  readonly sections: readonly Section[];
}

/** The Usage section of a command's topic: its generated line, wrapped. */
export const USAGE: Section = { heading: "Usage", inline: true, paragraphs: [[{ kind: "usage" }]] };

/** Options no Usage line shows: they ask for help or the version instead of running. */
export const NOT_IN_USAGE: readonly OptionName[] = ["help", "version"];

/**
 * The words of a command's Usage line after the command word: its operands, then each option it
 * takes (the monitor to talk to first), in brackets, "..." after those that repeat.
 */
export function usageWords(
  command: CommandName,
  pick: (name: OptionName) => boolean = () => true,
): string[] {
  const operands = COMMAND_OPERANDS[command];
  const names = COMMAND_OPTIONS[command].filter((name) =>
    !option(name).hidden && !NOT_IN_USAGE.includes(name) && pick(name)
  );
  const first: readonly OptionName[] = ["socket", "domain"];
  const ordered = [
    ...first.filter((name) => names.includes(name)),
    ...names.filter((name) => !first.includes(name)),
  ];
  const words = ordered.map((name) => {
    const { valueName, repeatable } = option(name);
    return `[--${name}${valueName ? ` ${valueName}` : ""}]${repeatable ? "..." : ""}`;
  });
  return [...(operands ? [operands] : []), ...words];
}

/** Words joined by spaces into lines of at most `width` columns, later ones after `indent`. */
export function fillWords(words: readonly string[], width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    const lead = lines.length === 0 ? "" : indent;
    if (line !== "" && lead.length + line.length + 1 + word.length > width) {
      lines.push(lead + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  return [...lines, (lines.length === 0 ? "" : indent) + line];
}

/** Every example of a topic, wherever it stands. */
export function topicExamples(topic: Topic): Example[] {
  return topic.sections.flatMap((section) =>
    section.paragraphs.flat().flatMap((run) => run.kind === "examples" ? run.examples : [])
  );
}

/** An example's yank command line, on one line (continuations joined). */
export function commandLine(invocation: Invocation): string {
  return typeof invocation.command === "string" ? invocation.command : invocation.command.join(" ");
}

/** Where option texts start in an option block. */
export const TEXT_COLUMN = 26;

/** Where the overview's command summaries start. */
const SUMMARY_COLUMN = 43;

/** An option as help writes it: "-s, --socket PATH" or "    --json" (four spaces for no short). */
export function optionUsage(name: OptionName): string {
  const { short, valueName } = option(name);
  return `${short ? `-${short}, ` : "    "}--${name}${valueName ? ` ${valueName}` : ""}`;
}

/** The options a topic's block lists: those `command` takes and shows, that `pick` accepts. */
export function blockOptions(
  command: CommandName,
  pick: (name: OptionName) => boolean = () => true,
): OptionName[] {
  return COMMAND_OPTIONS[command].filter((name) => !option(name).hidden && pick(name));
}

/**
 * What an option block says about one option, in lines of at most WIDTH - TEXT_COLUMN columns:
 * its text for `command`, noting whether it repeats and its default.
 */
export function optionText(command: CommandName, name: OptionName): string[] {
  const declared = option(name);
  const notes = [
    ...(declared.repeatable ? ["repeatable"] : []),
    ...(declared.default === undefined ? [] : [`default: ${declared.default}`]),
  ];
  const [first, ...more] = (declared.helpIn?.[command] ?? declared.help).split("\n");
  // The notes end the first line, before the colon of one that introduces a list.
  const lead = /^(.*?)(:?)$/.exec(first!)!;
  const text = [notes.length > 0 ? `${lead[1]} (${notes.join("; ")})${lead[2]}` : first!, ...more];
  return text.flatMap((line) => fillWords(line.split(" "), WIDTH - TEXT_COLUMN, ""));
}

/** A command's Usage line, wrapped; later lines start under the first word after the command. */
export function usageLines(command: CommandName, width: number): string[] {
  const name = command === "yank" ? "yank" : `yank ${command}`;
  return fillWords([name, ...usageWords(command)], width, " ".repeat(name.length + 1));
}

/**
 * The overview's list of commands, without its indent: each command's Usage line without the
 * options every command that talks to QEMU takes (listed once under the overview's own
 * heading), then its summary in a column.
 */
export function commandLines(commands: readonly CommandName[], width: number): string[] {
  return commands.flatMap((command) => {
    const name = command === "yank" ? "yank" : `yank ${command}`;
    const words = [name, ...usageWords(command, (option) => !everyCommandTakes(option))];
    const lines = fillWords(words, width, " ".repeat(name.length + 1));
    const column = SUMMARY_COLUMN - 2;
    const last = lines.at(-1)!;
    const summary = COMMAND_SUMMARIES[command];
    return last.length + 2 <= column
      ? [...lines.slice(0, -1), last.padEnd(column) + summary]
      : [...lines, " ".repeat(column) + summary];
  });
}

/** Whether every command that talks to QEMU takes the option. */
export function everyCommandTakes(name: OptionName): boolean {
  return QEMU_COMMANDS.every((command) => COMMAND_OPTIONS[command].includes(name));
}
