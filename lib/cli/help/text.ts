/**
 * Renders a help topic as the text `--help` prints: headings end with ":", paragraphs are
 * separated by blank lines, lines shown as they are and examples are indented by two, and
 * option texts start in a column.
 */

import type { CommandName, OptionName } from "../options.ts";
import {
  blockOptions,
  commandLines,
  type Example,
  optionText,
  optionUsage,
  type Run,
  type Section,
  TEXT_COLUMN,
  type Topic,
  usageLines,
  VERSION,
  WIDTH,
} from "./model.ts";

/** What "Usage: " takes of a Usage line. */
const USAGE_LEAD = "Usage: ".length;

/** The first line of a topic: "yank list: what it does." */
export function topicName(command: CommandName): string {
  return command === "yank" ? `yank ${VERSION}` : `yank ${command}`;
}

/** The text of one topic, as `yank help COMMAND` prints it. */
export function renderText(topic: Topic): string {
  const title = `${topicName(topic.command)}: ${topic.title}`;
  return `${[title, ...topic.sections.map((s) => renderSection(topic.command, s))].join("\n\n")}\n`;
}

function renderSection(command: CommandName, section: Section): string {
  const paragraphs = section.paragraphs.map((runs) =>
    runs.flatMap((run) => renderRun(command, run))
  );
  if (section.heading === undefined) return paragraphs.map((p) => p.join("\n")).join("\n\n");
  if (section.inline) {
    const [first, ...rest] = paragraphs;
    const [line, ...more] = first!;
    paragraphs.splice(0, paragraphs.length, [`${section.heading}: ${line}`, ...more], ...rest);
  } else {
    paragraphs[0]!.unshift(`${section.heading}:`);
  }
  return paragraphs.map((p) => p.join("\n")).join("\n\n");
}

/** The lines of one run. */
function renderRun(command: CommandName, run: Run): string[] {
  switch (run.kind) {
    case "prose":
      return [...run.lines];
    case "shown":
      return run.lines.map((line) => `  ${line}`);
    case "options":
      return blockOptions(command, run.pick).flatMap((name) => optionLines(command, name));
    case "examples":
      return run.examples.flatMap(exampleLines).map((line) => `  ${line}`);
    case "usage":
      return usageLines(command, WIDTH - USAGE_LEAD).map((line, i) =>
        i === 0 ? line : " ".repeat(USAGE_LEAD) + line
      );
    case "commands":
      return commandLines(run.commands, WIDTH - 2).map((line) => `  ${line}`);
  }
}

/** One option of a block: its usage, then its text in a column. */
function optionLines(command: CommandName, name: OptionName): string[] {
  const lines = optionText(command, name);
  const usage = `  ${optionUsage(name)}`;
  const head = usage.length + 2 <= TEXT_COLUMN ? [usage.padEnd(TEXT_COLUMN) + lines.shift()] : [
    usage,
  ];
  return [...head, ...lines.map((line) => " ".repeat(TEXT_COLUMN) + line)];
}

/** An example's lines, without the indent: the command, then what it prints. */
export function exampleLines(example: Example): string[] {
  if (example.kind === "comment") return [`# ${example.text}`];
  const command = typeof example.command === "string"
    ? example.command
    : example.command.join(" \\\n  ");
  const prompt = example.kind === "run" ? "$ " : "";
  const line = `${prompt}${example.before ?? ""}${command}${example.after ?? ""}`;
  return [...line.split("\n"), ...(example.output ?? [])];
}
