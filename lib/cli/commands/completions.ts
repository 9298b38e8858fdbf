/**
 * `yank completions bash|zsh|fish` prints a completion script; the scripts call back
 * `yank completions --list-names TYPE --socket S` to complete live instance names.
 */

import type { CliArgs } from "../args.ts";
import { UsageError } from "../exit_codes.ts";
import type { CliIo } from "../io.ts";
import { visitSockets } from "../monitor.ts";
import { completionScript, isShell } from "../../completions/script.ts";
import { SHELLS } from "../../completions/spec.ts";
import { completionSpec } from "../completion_spec.ts";
import { queryYank } from "../../yank/yank.ts";
import { instanceName, type YankInstanceType } from "../../yank/instances.ts";

/**
 * QEMU's own rule for ids and node-names. A name outside it (from something that is not QEMU)
 * is left out rather than pasted into the user's command line.
 */
const WELL_FORMED_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** Runs `yank completions`; returns the exit code. */
export async function completionsCommand(args: CliArgs, io: CliIo): Promise<number> {
  if (args.listNames) return await listNames(args, io, args.listNames);
  const shell = args.rest[0]!;
  if (!isShell(shell)) {
    throw new UsageError(
      `No completions for shell ${JSON.stringify(shell)} (shells: ${SHELLS.join(", ")})`,
    );
  }
  io.stdout(completionScript(shell, completionSpec()));
  return 0;
}

/** Prints the names of the instances of `type` on every socket, one a line, each once. */
async function listNames(args: CliArgs, io: CliIo, type: YankInstanceType): Promise<number> {
  const { outcomes, exitCode } = await visitSockets(args, io, queryYank);
  const names = new Set<string>();
  for (const outcome of outcomes) {
    if (!("value" in outcome)) continue;
    for (const instance of outcome.value) {
      const name = instanceName(instance);
      if (instance.type === type && WELL_FORMED_NAME.test(name)) names.add(name);
    }
  }
  if (names.size > 0) io.stdout(`${[...names].join("\n")}\n`);
  return exitCode;
}
