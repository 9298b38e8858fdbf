/**
 * `yank list`: the yank instances, as a table or as QEMU's own JSON objects.
 */

import type { CliArgs } from "../args.ts";
import { type CliIo, useColour } from "../io.ts";
import { visitSockets } from "../monitor.ts";
import { queryYank } from "../../yank/yank.ts";
import { instanceName, type YankInstance } from "../../yank/instances.ts";
import { renderTable } from "../../render/table.ts";
import { renderJson } from "../../render/json.ts";

/** Runs `yank list`; returns the exit code. */
export async function listCommand(args: CliArgs, io: CliIo): Promise<number> {
  const { outcomes, multi, exitCode } = await visitSockets(args, io, queryYank);
  const found: { socket: string; instance: YankInstance }[] = [];
  for (const outcome of outcomes) {
    if ("value" in outcome) {
      for (const instance of outcome.value) found.push({ socket: outcome.socket, instance });
    }
  }
  // When every socket failed there is no data to print, not even an empty list.
  if (!outcomes.some((outcome) => "value" in outcome)) return exitCode;
  if (args.json) {
    const items = found.map(({ socket, instance }) => multi ? { socket, ...instance } : instance);
    io.stdout(`${renderJson(items)}\n`);
  } else {
    const head = multi ? ["SOCKET", "TYPE", "NAME"] : ["TYPE", "NAME"];
    const rows = found.map(({ socket, instance }) => {
      const row = [instance.type, instanceName(instance) || "-"];
      return multi ? [socket, ...row] : row;
    });
    io.stdout(await renderTable(head, rows, { bold: useColour(io, "stdout") }));
  }
  return exitCode;
}
