/**
 * The yank commands: `yank chardev ID...`, `yank block-node NAME...`, `yank migration`, and the
 * selector form `yank --chardev PATTERN --block-node PATTERN --migration`.
 */

import type { CliArgs } from "../args.ts";
import { type CliIo, reportFailure, useColour } from "../io.ts";
import { paint } from "../../render/colour.ts";
import { visitSockets } from "../monitor.ts";
import { InstanceNotFoundError, yankSelected } from "../../yank/yank.ts";
import { exitCodeFor, messageFor } from "../exit_codes.ts";
import { instanceName, type YankInstance } from "../../yank/instances.ts";
import { printable } from "../../render/printable.ts";
import { renderJson } from "../../render/json.ts";

/** Runs a yank command; returns the exit code. */
export async function yankCommand(args: CliArgs, io: CliIo): Promise<number> {
  const { outcomes, multi, exitCode } = await visitSockets(
    args,
    io,
    (client) => yankSelected(client, args.selectors, { force: args.force, dryRun: args.dryRun }),
  );
  let code = exitCode;
  const done: { socket: string; instance: YankInstance }[] = [];
  for (const outcome of outcomes) {
    if (!("value" in outcome)) continue;
    for (const instance of outcome.value.yanked) done.push({ socket: outcome.socket, instance });
    if (outcome.value.vanished.length > 0) {
      const error = new InstanceNotFoundError(
        outcome.socket,
        outcome.value.vanished,
        " any more (it vanished before the yank; the rest was yanked)",
      );
      reportFailure(io, messageFor(error));
      code = Math.max(code, exitCodeFor(error));
    }
  }
  if (!outcomes.some((outcome) => "value" in outcome)) return code;
  if (args.json) {
    const items = done.map(({ socket, instance }) => multi ? { socket, ...instance } : instance);
    io.stdout(`${renderJson(items)}\n`);
    return code;
  }
  const verb = args.dryRun ? "would yank" : paint("yanked", "green", useColour(io, "stdout"));
  for (const { socket, instance } of done) {
    const name = instance.type === "migration" ? "" : ` ${printable(instanceName(instance))}`;
    const where = multi ? `${printable(socket)}: ` : "";
    io.stdout(`${where}${verb} ${instance.type}${name}\n`);
  }
  return code;
}
