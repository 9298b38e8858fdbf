/**
 * Manual pages, rendered from the same help topics as `--help` (help.ts, help/): `yank(1)` from
 * the overview and `yank-COMMAND(1)` for each command. Headings become sections (Usage is the
 * SYNOPSIS, moved to the front), prose is filled by the pager, lines shown as they are and
 * examples are kept as written, each option is a tagged paragraph. A pure function of the topics;
 * docs/man/generate.ts writes the files, and a test checks that they are up to date.
 */

import { type CommandName, COMMANDS } from "./options.ts";
import { helpTopic } from "./help.ts";
import {
  blockOptions,
  commandLines,
  optionText,
  optionUsage,
  type Run,
  type Topic,
  usageLines,
  VERSION,
  WIDTH,
} from "./help/model.ts";
import { exampleLines } from "./help/text.ts";

/** One manual page: its file name (in section 1) and its roff source. */
export interface ManPage {
  file: string;
  source: string;
}

/** The commands that get a page of their own ("help" is no command of its own). */
export const MAN_COMMANDS: readonly CommandName[] = COMMANDS.filter((c) => c !== "help");

/** The guides in docs/ that every page points to, with what each holds. */
const GUIDES: readonly [string, string][] = [
  ["docs/guide.md", "the operator's guide: a host's watch, libvirt, monitoring, the proxy"],
  ["docs/reference.md", "the reference: output formats, exit codes, speed"],
  ["docs/how-it-works.md", "why a one-shot cannot cure a hang, and how peers are judged"],
];

/** Every manual page: yank(1) and one per command. */
export function manPages(topic: (command: CommandName) => Topic = helpTopic): ManPage[] {
  const pages = MAN_COMMANDS.map((command) => pageName(command));
  return [
    { file: "yank.1", source: renderManPage(topic("yank"), pages) },
    ...MAN_COMMANDS.map((command) => ({
      file: `${pageName(command)}.1`,
      source: renderManPage(topic(command), ["yank"]),
    })),
  ];
}

function pageName(command: CommandName): string {
  return command === "yank" ? "yank" : `yank-${command}`;
}

/** The sections of a page that a help heading becomes; any other is the heading in capitals. */
const HEADINGS: Record<string, string> = {
  "Usage": "SYNOPSIS",
  "Options": "OPTIONS",
  "Examples": "EXAMPLES",
  "Exit codes": "EXIT STATUS",
  "Exit codes (Monitoring Plugins)": "EXIT STATUS",
};

/** Renders one topic as a man page, pointing to `seeAlso` and the guides. */
export function renderManPage(topic: Topic, seeAlso: readonly string[]): string {
  const name = pageName(topic.command);
  const out: string[] = [
    `.TH ${name.toUpperCase()} 1 "" "yank ${VERSION}" "User Commands"`,
    // No hyphenation, ragged right: option names and paths must survive copying.
    ".nh",
    ".ad l",
    ".SH NAME",
    `${roff(name)} \\- ${roff(topic.title.replace(/\.$/, ""))}`,
  ];
  // Sections in the order written, SYNOPSIS moved to the front, as manual pages have it.
  const sections = topic.sections.map((section) => ({
    heading: section.heading === undefined
      ? "DESCRIPTION"
      : HEADINGS[section.heading] ?? section.heading.toUpperCase(),
    lines: section.paragraphs.flatMap((runs) => renderParagraph(topic.command, runs)),
  }));
  let previous = "";
  for (
    const { heading, lines } of [
      ...sections.filter((s) => s.heading === "SYNOPSIS"),
      ...sections.filter((s) => s.heading !== "SYNOPSIS"),
    ]
  ) {
    // Two parts of one section (prose before and after the synopsis) become one.
    if (heading !== previous) out.push(`.SH ${heading}`);
    out.push(...lines);
    previous = heading;
  }
  out.push(".SH SEE ALSO", seeAlso.map((page) => `.BR ${roff(page)} (1)`).join(",\n"));
  out.push(".PP", "In yank's source tree:");
  for (const [file, what] of GUIDES) out.push(".TP", `.I ${roff(file)}`, roff(what));
  return `${out.join("\n")}\n`;
}

/**
 * One paragraph: prose starts a .PP, lines shown as they are go in an indented no-fill block
 * (one per paragraph, however many runs it takes), each option is a .TP.
 */
function renderParagraph(command: CommandName, runs: readonly Run[]): string[] {
  const body: string[] = [];
  // Set inside enter() too, which the compiler's narrowing does not see.
  let mode = "none" as "none" | "prose" | "verbatim";
  const enter = (next: "prose" | "verbatim") => {
    if (mode === next) return;
    if (mode === "verbatim") body.push(".fi", ".RE");
    body.push(...(next === "prose" ? [".PP"] : [".PP", ".RS 4", ".nf"]));
    mode = next;
  };
  const verbatim = (lines: readonly string[]) => {
    enter("verbatim");
    body.push(...lines.map(roff));
  };
  for (const run of runs) {
    switch (run.kind) {
      case "prose":
        enter("prose");
        body.push(...run.lines.map((line) => roff(line.trim())));
        break;
      case "shown":
        verbatim(run.lines);
        break;
      case "examples":
        verbatim(run.examples.flatMap(exampleLines));
        break;
      case "usage":
        verbatim(usageLines(command, WIDTH - "Usage: ".length));
        break;
      case "commands":
        verbatim(commandLines(run.commands, WIDTH - 2));
        break;
      case "options":
        if (mode === "verbatim") body.push(".fi", ".RE");
        mode = "none";
        for (const name of blockOptions(command, run.pick)) {
          body.push(".TP", `\\fB${roff(optionUsage(name).trim())}\\fR`);
          body.push(...optionText(command, name).map(roff));
        }
        break;
    }
  }
  if (mode === "verbatim") body.push(".fi", ".RE");
  return body;
}

/** Escapes text for roff: backslashes, minus signs, and a leading dot or quote. */
function roff(text: string): string {
  const escaped = text.replace(/\\/g, "\\e").replace(/-/g, "\\-");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}
