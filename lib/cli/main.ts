/**
 * The CLI's entry: parse, dispatch, map failures to one line on stderr and an exit code.
 */

import { type CliArgs, guessCommand, parseCliArgs } from "./args.ts";
import type { CommandName } from "./options.ts";
import { ExitCode, exitCodeFor, messageFor } from "./exit_codes.ts";
import { type CliIo, denoIo, reportFailure } from "./io.ts";
import { listCommand } from "./commands/list.ts";
import { yankCommand } from "./commands/yank.ts";

/**
 * The modules only some runs need, loaded when used. Their specifiers are built at run time on
 * purpose: Deno reads every module that a literal `import("./x.ts")` names, and all that those
 * import, at start-up, even when the import never runs. The compile task in deno.json includes
 * them in the binary (`--include`); a test checks that it names each of them.
 */
export const LAZY_MODULES = {
  help: "./help.ts",
  domains: "./domains.ts",
  check: "./commands/check.ts",
  watch: "./commands/watch.ts",
  completions: "./commands/completions.ts",
} as const;

/** The types of the lazy modules; a type-only import loads nothing. */
interface LazyModules {
  help: typeof import("./help.ts");
  domains: typeof import("./domains.ts");
  check: typeof import("./commands/check.ts");
  watch: typeof import("./commands/watch.ts");
  completions: typeof import("./commands/completions.ts");
}

/** Loads one of the lazy modules. */
function load<K extends keyof LazyModules>(name: K): Promise<LazyModules[K]> {
  return import(new URL(LAZY_MODULES[name], import.meta.url).href);
}

/** Runs the CLI with `args` and returns the exit code; never calls Deno.exit. */
export async function main(args: readonly string[], io: CliIo = denoIo()): Promise<number> {
  // Known before parsing succeeds, so that a usage error of `check` exits 3 (UNKNOWN).
  let command: CommandName = guessCommand(args);
  try {
    const parsed = parseCliArgs(args, io.env);
    command = parsed.command;
    // Help texts are built when help.ts loads, so only a run that shows one loads it.
    if (parsed.help) {
      io.stdout((await load("help")).helpText(parsed.command));
      return 0;
    }
    if (parsed.version) {
      io.stdout(`yank ${(await load("help")).VERSION}\n`);
      return 0;
    }
    if (parsed.command === "check") {
      // A domain that cannot be used is one more UNKNOWN report: check combines every state
      // into one status line and one exit code.
      const failures: Error[] = [];
      await resolveDomains(parsed, io, (failure) => failures.push(failure));
      return await (await load("check")).checkCommand(parsed, io, failures);
    }
    // A run that also had domains it could not use exits with the highest code.
    const domainCode = await resolveDomains(parsed, io);
    if (parsed.domains.length > 0 && parsed.sockets.length === 0) return domainCode;
    return Math.max(await run(parsed, io), domainCode);
  } catch (error) {
    if (command === "check") reportUnknown(io, messageFor(error));
    else reportFailure(io, messageFor(error));
    return exitCodeFor(error, command);
  }
}

/** `--domain`'s sockets (see domains.ts), loading libvirt's code only for a run that has some. */
async function resolveDomains(
  args: CliArgs,
  io: CliIo,
  onFailure?: (failure: Error) => void,
): Promise<number> {
  if (args.domains.length === 0) return ExitCode.ok;
  return await (await load("domains")).resolveDomains(args, io, onFailure);
}

/**
 * What stops `yank check` from judging any monitor (a usage error, an unwritable --textfile) is
 * its state UNKNOWN, and like every state it goes to stdout as a status line, which is what
 * Monitoring Plugins read; only when stdout cannot take it does it go to stderr.
 */
function reportUnknown(io: CliIo, message: string): void {
  try {
    io.stdout(`YANK UNKNOWN - ${message}\n`);
  } catch {
    reportFailure(io, message);
  }
}

/**
 * Dispatches to the command. `list` and the yank forms are loaded with the program; the other
 * commands only when used, so that the paths scripts run most start fastest.
 */
async function run(args: CliArgs, io: CliIo): Promise<number> {
  switch (args.command) {
    case "list":
      return await listCommand(args, io);
    case "yank":
    case "chardev":
    case "block-node":
    case "migration":
      return await yankCommand(args, io);
    case "check":
      return await (await load("check")).checkCommand(args, io);
    case "watch":
      return await (await load("watch")).watchCommand(args, io);
    case "completions":
      return await (await load("completions")).completionsCommand(args, io);
    default:
      throw new Error(`"yank ${args.command}" has no implementation`);
  }
}
