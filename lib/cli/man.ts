/**
 * Manual pages, made from the same help texts that `--help` prints (help.ts), so the two cannot
 * drift: `yank(1)` from the overview and `yank-COMMAND(1)` for each command. A pure function of
 * the help text; docs/man/generate.ts writes the files, and a test checks that they are up to date.
 *
 * The help texts follow a few layout rules, which this reads:
 * - the first line is "NAME: what it does.";
 * - a line at the left margin that ends with ":" (and is short) is a heading; "Usage: ..." and
 *   "Exit codes: ..." are headings with their content on the same line;
 * - other lines at the left margin are prose, filled by the pager;
 * - an indented line that starts as help writes a declared option ("  -s, --socket PATH") is
 *   that option, its text continued by lines indented further;
 * - any other indented line is shown as it is (examples, tables, commands).
 */

import { type CommandName, COMMANDS, OPTION_NAMES } from "./options.ts";
import { helpText, optionUsage, VERSION } from "./help.ts";

/** One manual page: its file name (in section 1) and its roff source. */
export interface ManPage {
  file: string;
  source: string;
}

/** The commands that get a page of their own ("help" is no command of its own). */
export const MAN_COMMANDS: readonly CommandName[] = COMMANDS.filter((c) => c !== "help");

/** Every manual page: yank(1) and one per command. */
export function manPages(help: (command: CommandName) => string = helpText): ManPage[] {
  const pages = MAN_COMMANDS.map((command) => pageName(command));
  return [
    { file: "yank.1", source: renderManPage("yank", help("yank"), pages) },
    ...MAN_COMMANDS.map((command) => ({
      file: `${pageName(command)}.1`,
      source: renderManPage(pageName(command), help(command), ["yank"]),
    })),
  ];
}

function pageName(command: CommandName): string {
  return command === "yank" ? "yank" : `yank-${command}`;
}

const HEADINGS: Record<string, string> = {
  "Usage": "SYNOPSIS",
  "Options": "OPTIONS",
  "Examples": "EXAMPLES",
  "Exit codes": "EXIT STATUS",
  "Exit codes (Monitoring Plugins)": "EXIT STATUS",
};

/** Headings whose content may follow on the same line. */
const INLINE_HEADINGS = ["Usage", "Exit codes"];

/** Renders one help text as a man page named `name`, pointing to `seeAlso`. */
export function renderManPage(name: string, help: string, seeAlso: readonly string[]): string {
  const lines = help.replace(/\n+$/, "").split("\n");
  const title = /^[^:]+: (.*?)\.?$/.exec(lines[0]!);
  const out: string[] = [
    `.TH ${name.toUpperCase()} 1 "" "yank ${VERSION}" "User Commands"`,
    // No hyphenation, ragged right: option names and paths must survive copying.
    ".nh",
    ".ad l",
    ".SH NAME",
    `${roff(name)} \\- ${roff(title ? title[1]! : lines[0]!)}`,
  ];
  // Sections in the order met; SYNOPSIS moves to the front, as manual pages have it.
  const sections: { heading: string; lines: string[] }[] = [];
  let body: string[] = [];
  let section = "";
  let usageInline = false;
  // Set inside the helpers below too, which the compiler's narrowing does not see.
  let mode = "none" as "none" | "prose" | "verbatim" | "option";
  const startSection = (heading: string) => {
    end();
    section = heading;
    body = [];
    sections.push({ heading, lines: body });
  };
  const end = () => {
    if (mode === "verbatim") body.push(".fi", ".RE");
    mode = "none";
  };
  const needSection = () => {
    if (section === "" || section === "SYNOPSIS") startSection("DESCRIPTION");
  };
  for (const line of lines.slice(1)) {
    if (line.trim() === "") {
      if (mode === "verbatim") {
        end();
        continue;
      }
      if (mode !== "none") end();
      continue;
    }
    const heading = headingOf(line);
    if (heading !== undefined) {
      startSection(HEADINGS[heading.name] ?? heading.name.toUpperCase());
      usageInline = heading.name === "Usage" && heading.rest !== "";
      if (heading.rest !== "") {
        if (heading.name === "Usage") verbatim(heading.rest);
        else prose(heading.rest);
      }
      continue;
    }
    const option = optionOf(line);
    if (option !== undefined) {
      needSection();
      end();
      body.push(".TP", `\\fB${roff(option.spec)}\\fR`);
      if (option.text !== "") body.push(roff(option.text));
      mode = "option";
      continue;
    }
    if (mode === "option" && /^ {8,}\S/.test(line)) {
      body.push(roff(line.trim()));
      continue;
    }
    if (/^ /.test(line)) {
      if (section === "SYNOPSIS" && mode === "verbatim" && usageInline) {
        // Continues "Usage: yank ...", aligned under what follows "Usage: ".
        body.push(roff(line.replace(/^ {0,7}/, "")));
        continue;
      }
      if (section === "") startSection("DESCRIPTION");
      verbatim(line.replace(/^ {2}/, ""));
      continue;
    }
    if (section === "SYNOPSIS") startSection("DESCRIPTION");
    needSection();
    prose(line);
  }
  end();
  const ordered = [
    ...sections.filter((s) => s.heading === "SYNOPSIS"),
    ...sections.filter((s) => s.heading !== "SYNOPSIS"),
  ];
  let previous = "";
  for (const { heading, lines } of ordered) {
    // Two parts of one section (prose before and after the synopsis) become one.
    if (heading !== previous) out.push(`.SH ${heading}`);
    out.push(...lines);
    previous = heading;
  }
  out.push(".SH SEE ALSO", seeAlso.map((page) => `.BR ${roff(page)} (1)`).join(",\n"));
  return `${out.join("\n")}\n`;

  function prose(text: string): void {
    if (mode !== "prose") {
      end();
      body.push(".PP");
      mode = "prose";
    }
    body.push(roff(text.trim()));
  }

  function verbatim(text: string): void {
    if (mode !== "verbatim") {
      end();
      body.push(".PP", ".RS 4", ".nf");
      mode = "verbatim";
    }
    body.push(roff(text));
  }
}

/** How help writes each option, longest first (so "--listen-dir" is not taken for "--listen"). */
const OPTION_USAGES = OPTION_NAMES.map(optionUsage).sort((a, b) => b.length - a.length);

/**
 * An option line: a declared option as help writes it, alone or followed by two spaces and its
 * text. A QEMU option in an example ("  -chardev socket,id=...") is no option of yank's.
 */
function optionOf(line: string): { spec: string; text: string } | undefined {
  for (const usage of OPTION_USAGES) {
    if (!line.startsWith(usage)) continue;
    const rest = line.slice(usage.length);
    if (rest === "" || /^ {2,}\S/.test(rest)) return { spec: usage.trim(), text: rest.trim() };
  }
  return undefined;
}

function headingOf(line: string): { name: string; rest: string } | undefined {
  if (/^\s/.test(line)) return undefined;
  const whole = /^([A-Z][^:.]{0,40}):$/.exec(line);
  if (whole) return { name: whole[1]!, rest: "" };
  const inline = /^([A-Z][A-Za-z ]*): (.+)$/.exec(line);
  if (inline && INLINE_HEADINGS.includes(inline[1]!)) return { name: inline[1]!, rest: inline[2]! };
  return undefined;
}

/** Escapes text for roff: backslashes, minus signs, and a leading dot or quote. */
function roff(text: string): string {
  const escaped = text.replace(/\\/g, "\\e").replace(/-/g, "\\-");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}
