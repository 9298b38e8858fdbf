/**
 * The CLI's entry: parse, dispatch, map failures to one line on stderr and an exit code.
 */

import { type CliArgs, type CommandName, guessCommand, parseCliArgs } from "./args.ts";
import { exitCodeFor, messageFor } from "./exit_codes.ts";
import { helpText, VERSION } from "./help.ts";
import { type CliIo, denoIo, reportFailure } from "./io.ts";
import { completionsCommand } from "./commands/completions.ts";
import { listCommand } from "./commands/list.ts";
import { yankCommand } from "./commands/yank.ts";
import { checkCommand } from "./commands/check.ts";
import { watchCommand } from "./commands/watch.ts";

/** Runs the CLI with `args` and returns the exit code; never calls Deno.exit. */
export async function main(args: readonly string[], io: CliIo = denoIo()): Promise<number> {
  // Known before parsing succeeds, so that a usage error of `check` exits 3 (UNKNOWN).
  let command: CommandName = guessCommand(args);
  try {
    const parsed = parseCliArgs(args, io.env);
    command = parsed.command;
    if (parsed.help) {
      io.stdout(helpText(parsed.command));
      return 0;
    }
    if (parsed.version) {
      io.stdout(`yank ${VERSION}\n`);
      return 0;
    }
    return await run(parsed, io);
  } catch (error) {
    reportFailure(io, messageFor(error));
    return exitCodeFor(error, command);
  }
}

function run(args: CliArgs, io: CliIo): Promise<number> {
  switch (args.command) {
    case "list":
      return listCommand(args, io);
    case "yank":
    case "chardev":
    case "block-node":
    case "migration":
      return yankCommand(args, io);
    case "check":
      return checkCommand(args, io);
    case "watch":
      return watchCommand(args, io);
    case "completions":
      return completionsCommand(args, io);
    default:
      throw new Error(`"yank ${args.command}" is not implemented yet`);
  }
}
