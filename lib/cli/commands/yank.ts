/**
 * The yank commands: `yank chardev ID...`, `yank block-node NAME...`, `yank migration`, and the
 * selector form `yank --chardev PATTERN --block-node PATTERN --migration`.
 */

import type { CliArgs } from "../args.ts";
import { type CliIo, reportFailure, useColour } from "../io.ts";
import { paint } from "../../render/colour.ts";
import { visitSockets } from "../monitor.ts";
import { InstanceNotFoundError, nothingMatched, yankSelected } from "../../yank/yank.ts";
import { isMultiSocket } from "../../sockets/plan.ts";
import { exitCodeFor, messageFor } from "../exit_codes.ts";
import { instanceName, type YankInstance } from "../../yank/instances.ts";
import { printable } from "../../render/printable.ts";
import { renderJson } from "../../render/json.ts";

/** Runs a yank command; returns the exit code. */
export async function yankCommand(args: CliArgs, io: CliIo): Promise<number> {
  // Across many VMs a selector need only match on some of them (checked below).
  const requireEveryMatch = !isMultiSocket(args.sockets) && !args.manyDomains;
  const { outcomes, multi, exitCode } = await visitSockets(
    args,
    io,
    (client) =>
      yankSelected(client, args.selectors, {
        force: args.force,
        spare: args.spare,
        diskAliases: args.domainOf.get(client.socket)?.disks ?? [],
        dryRun: args.dryRun,
        requireEveryMatch,
      }),
  );
  let code = exitCode;
  const answered = outcomes.flatMap((outcome) => "value" in outcome ? [outcome.value] : []);
  if (!requireEveryMatch && answered.length > 0) {
    const first = answered[0]!.match.selectors;
    const nowhere = first.filter((_, i) =>
      answered.every((value) => value.match.selectors[i]!.matched.length === 0)
    );
    if (nowhere.length > 0) {
      const error = nothingMatched(
        nowhere,
        `on any of the ${answered.length} sockets that answered`,
      );
      reportFailure(io, messageFor(error));
      code = Math.max(code, exitCodeFor(error));
    }
  }
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
    // A plan is marked as one, so that a script never takes it for what was yanked.
    const items = done.map(({ socket, instance }) => {
      const item = multi ? { socket, ...instance } : instance;
      return args.dryRun ? { ...item, "dry-run": true } : item;
    });
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
