/**
 * The command line: `yank [COMMAND] [OPTIONS] [ARGS]`, parsed strictly by the option
 * declarations in options.ts.
 */

import { OptionSyntaxError, parseOptions } from "./option_parser.ts";
import { compileGlob, GlobSyntaxError, isGlob } from "../glob.ts";
import { hasSelectors, type YankSelectors } from "../yank/match.ts";
import type { LibvirtDomain } from "../libvirt/domain_xml.ts";
import { YANK_INSTANCE_TYPES, type YankInstanceType } from "../yank/instances.ts";
import { UsageError } from "./exit_codes.ts";
import {
  CHECK_FORMATS,
  type CheckFormat,
  COMMAND_OPTIONS,
  type CommandName,
  COMMANDS,
  OPTIONS,
} from "./options.ts";

/** A parsed command line. */
export interface CliArgs {
  command: CommandName;
  /** `--help` (or `yank help`): show help for `command` instead of running it. */
  help: boolean;
  version: boolean;
  /** Sockets and socket globs, as given (or from YANK_SOCKET); resolved later. */
  sockets: string[];
  /** `--timeout`: bounds the whole run of a one-shot command. */
  timeoutMs: number;
  json: boolean;
  trace: boolean;
  selectors: YankSelectors;
  dryRun: boolean;
  force: boolean;
  format: CheckFormat;
  textfile: string | undefined;
  intervalMs: number;
  hangAfterMs: number;
  /** `watch --stall-after`: undefined when off. */
  stallAfterMs: number | undefined;
  listen: string | undefined;
  /** `--spare`: chardev ids or globs that globs never match, like monitors' chardevs. */
  spare: string[];
  /** `--domain`: libvirt domain names or globs, resolved to their yank monitors later. */
  domains: string[];
  /** Whether --domain may name several monitors (output then names sockets). */
  manyDomains: boolean;
  /** The domain behind each socket --domain found (set when the domains are resolved). */
  domainOf: Map<string, LibvirtDomain>;
  /** `--listen-dir`: one proxy per watched monitor, named after the monitor socket. */
  listenDir: string | undefined;
  /** `completions --list-names TYPE`: print the instance names of TYPE for completion. */
  listNames: YankInstanceType | undefined;
  /** `reattach --resume`, `watch --resume`: resume a VM an I/O error paused, once reattached. */
  resume: boolean;
  /** `watch --reattach`: reattach yanked NBD nodes after a recovery. */
  reattach: boolean;
  /** Positional arguments left for the command (`completions SHELL`, `help COMMAND`). */
  rest: string[];
}

/**
 * Parses the arguments. `env` supplies YANK_SOCKET. Throws UsageError with a message that says
 * what is wrong and what to do.
 */
export function parseCliArgs(
  args: readonly string[],
  env: (name: string) => string | undefined,
): CliArgs {
  let parsed;
  try {
    parsed = parseOptions(args, OPTIONS);
  } catch (error) {
    if (!(error instanceof OptionSyntaxError)) throw error;
    throw new UsageError(`${error.message} (see "yank --help")`);
  }
  const { values, positionals, given } = parsed;

  let command: CommandName = "yank";
  let rest = positionals;
  if (positionals.length > 0) {
    const first = positionals[0]!;
    if (!(COMMANDS as readonly string[]).includes(first)) {
      throw new UsageError(
        `Unknown command ${JSON.stringify(first)} (commands: ${
          COMMANDS.join(", ")
        }; see "yank --help")`,
      );
    }
    command = first as CommandName;
    rest = positionals.slice(1);
  }

  const help = values.help === true || command === "help";
  const helpTopic = command === "help" ? (rest[0] ?? "yank") : command;
  if (command === "help") {
    if (rest.length > 1) throw new UsageError(`"yank help" takes at most one command name`);
    if (rest.length === 1 && !(COMMANDS as readonly string[]).includes(rest[0]!)) {
      throw new UsageError(`No help for unknown command ${JSON.stringify(rest[0])}`);
    }
  }
  for (const name of given) {
    if (!COMMAND_OPTIONS[command].includes(name)) {
      const where = command === "yank" ? "yank" : `yank ${command}`;
      throw new UsageError(`"${where}" does not take --${name} (see "${where} --help")`);
    }
  }

  const result: CliArgs = {
    command: help ? helpTopic as CommandName : command,
    help,
    version: values.version === true,
    sockets: [],
    timeoutMs: OPTIONS.timeout.default * 1000,
    json: values.json === true,
    trace: values.trace === true,
    selectors: {
      chardev: values.chardev ?? [],
      blockNode: values["block-node"] ?? [],
      migration: values.migration === true,
      disk: values.disk ?? [],
    },
    dryRun: values["dry-run"] === true,
    force: values.force === true,
    format: OPTIONS.format.default,
    textfile: values.textfile,
    intervalMs: OPTIONS.interval.default * 1000,
    hangAfterMs: OPTIONS["hang-after"].default * 1000,
    stallAfterMs: undefined,
    listen: values.listen,
    spare: values.spare ?? [],
    domains: values.domain ?? [],
    manyDomains: false,
    domainOf: new Map(),
    listenDir: values["listen-dir"],
    listNames: undefined,
    resume: values.resume === true,
    reattach: values.reattach === true,
    rest,
  };
  if (help || result.version) return result;

  if (values.timeout !== undefined) {
    result.timeoutMs = parseSeconds("--timeout", values.timeout) * 1000;
  }
  if (values.interval !== undefined) {
    result.intervalMs = parseSeconds("--interval", values.interval) * 1000;
  }
  if (values["hang-after"] !== undefined) {
    result.hangAfterMs = parseSeconds("--hang-after", values["hang-after"]) * 1000;
  }
  if (values["stall-after"] !== undefined) {
    result.stallAfterMs = parseSeconds("--stall-after", values["stall-after"]) * 1000;
  }
  if (values.format !== undefined) result.format = parseFormat(values.format);
  if (result.textfile !== undefined && (result.format === "json")) {
    throw new UsageError(
      `--textfile always writes Prometheus metrics; drop --format json (see "yank check --help")`,
    );
  }
  for (const [flag, value] of [["--textfile", result.textfile], ["--listen", result.listen]]) {
    if (value === "") throw new UsageError(`${flag} needs a file path, got ""`);
  }
  if (result.listenDir === "") throw new UsageError(`--listen-dir needs a directory, got ""`);

  applyPositionalForm(result);
  for (
    const [flag, patterns] of [
      ["--chardev", result.selectors.chardev],
      ["--block-node", result.selectors.blockNode],
      ["--disk", result.selectors.disk ?? []],
      ["--spare", result.spare],
      ["--domain", result.domains],
    ] as const
  ) {
    // "yank chardev X": X came as an argument, not as a flag the user never typed.
    const label = command === "yank" ? flag : `The argument of "yank ${command}"`;
    for (const pattern of patterns) checkPattern(label, pattern);
  }
  if (command === "yank" && !hasSelectors(result.selectors)) {
    throw new UsageError(
      `Say what to yank: "yank list" shows the instances, "yank chardev ID" yanks one (see "yank --help")`,
    );
  }
  if (values["list-names"] !== undefined) {
    result.listNames = parseInstanceType(values["list-names"]);
    if (rest.length > 0) {
      throw new UsageError(`"yank completions --list-names" takes no shell name`);
    }
  } else if (command === "completions" && rest.length !== 1) {
    throw new UsageError(`"yank completions" takes one shell: bash, zsh or fish`);
  }

  // --domain names the monitors itself; YANK_SOCKET is only the default for --socket.
  result.sockets = values.socket ??
    (result.domains.length > 0 ? [] : splitSocketList(env("YANK_SOCKET")));
  result.manyDomains = result.domains.length > 1 || result.domains.some(isGlob) ||
    (result.domains.length > 0 && result.sockets.length > 0);
  for (const socket of result.sockets) {
    if (socket.trim() === "") throw new UsageError(`--socket needs a path, got ""`);
  }
  if (
    result.sockets.length === 0 && result.domains.length === 0 &&
    (command !== "completions" || result.listNames)
  ) {
    throw new UsageError(
      `No socket given: use --socket PATH or set YANK_SOCKET (e.g. --socket /run/vm1.qmp), or --domain NAME for a libvirt VM`,
    );
  }
  return result;
}

/**
 * The command a command line names, read leniently (unknown options allowed), so that even a
 * line that does not parse maps its usage error to that command's exit code.
 */
export function guessCommand(args: readonly string[]): CommandName {
  const first = parseOptions(args, OPTIONS, false).positionals[0];
  return first !== undefined && (COMMANDS as readonly string[]).includes(first)
    ? first as CommandName
    : "yank";
}

/** YANK_SOCKET holds one path or glob, or several separated by ":" as in PATH. */
export function splitSocketList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(":").filter((part) => part !== "");
}

/** Turns `yank chardev A B` into the selector form `--chardev A --chardev B`. */
function applyPositionalForm(args: CliArgs): void {
  const { command, rest, selectors } = args;
  if (command !== "chardev" && command !== "block-node" && command !== "migration") {
    if (command !== "completions" && command !== "help" && rest.length > 0) {
      const where = command === "yank" ? "yank" : `yank ${command}`;
      throw new UsageError(
        `"${where}" takes no argument ${JSON.stringify(rest[0])} (see "${where} --help")`,
      );
    }
    return;
  }
  if (command === "migration") {
    if (rest.length > 0) {
      throw new UsageError(`"yank migration" takes no names, got ${JSON.stringify(rest[0])}`);
    }
    selectors.migration = true;
  } else if (rest.length === 0) {
    const what = command === "chardev" ? "ID" : "NODE-NAME";
    throw new UsageError(`"yank ${command}" needs at least one ${what} (see "yank list")`);
  } else if (command === "chardev") {
    selectors.chardev = rest;
  } else {
    selectors.blockNode = rest;
  }
  args.rest = [];
}

function checkPattern(label: string, pattern: string): void {
  if (pattern.trim() === "") throw new UsageError(`${label} needs a name or a glob, got ""`);
  try {
    compileGlob(pattern);
  } catch (error) {
    if (error instanceof GlobSyntaxError) throw new UsageError(`${label}: ${error.message}`);
    throw error;
  }
}

function parseSeconds(flag: string, text: string): number {
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0) || seconds > 86400) {
    throw new UsageError(
      `${flag} takes seconds, a number greater than 0 and at most 86400, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return seconds;
}

function parseFormat(text: string): CheckFormat {
  if ((CHECK_FORMATS as readonly string[]).includes(text)) return text as CheckFormat;
  throw new UsageError(`--format takes text, json or prometheus, got ${JSON.stringify(text)}`);
}

function parseInstanceType(text: string): YankInstanceType {
  if ((YANK_INSTANCE_TYPES as readonly string[]).includes(text)) return text as YankInstanceType;
  throw new UsageError(
    `--list-names takes ${YANK_INSTANCE_TYPES.join(", ")}, got ${JSON.stringify(text)}`,
  );
}
