/**
 * `yank reattach`: bring yanked NBD nodes back once their server answers, and with `--resume`
 * resume a VM that the I/O error paused.
 */

import type { CliArgs } from "../args.ts";
import { type CliIo, reportFailure, useColour } from "../io.ts";
import { paint } from "../../render/colour.ts";
import { visitSockets } from "../monitor.ts";
import { exitCodeFor, messageFor } from "../exit_codes.ts";
import { printable } from "../../render/printable.ts";
import { renderJson } from "../../render/json.ts";
import { type ReattachResult, reattachSelected } from "../../yank/reattach.ts";
import { NothingToReattachError } from "../../yank/reattach_plan.ts";
import { formatAddress } from "../../yank/peer_format.ts";

/** Runs `yank reattach`; returns the exit code. */
export async function reattachCommand(args: CliArgs, io: CliIo): Promise<number> {
  const deadline = io.now() + args.timeoutMs;
  const { outcomes, multi, exitCode } = await visitSockets(
    args,
    io,
    (client) =>
      reattachSelected(client, {
        selectors: {
          blockNode: args.selectors.blockNode,
          disk: args.selectors.disk ?? [],
          diskAliases: args.domainOf.get(client.socket)?.disks ?? [],
        },
        dryRun: args.dryRun,
        resume: args.resume,
        timeoutMs: args.timeoutMs,
        deadline,
        now: io.now,
      }),
  );
  let code = exitCode;
  const answered = outcomes.flatMap((o) => "value" in o ? [{ socket: o.socket, ...o.value }] : []);
  for (const { refused } of answered) {
    for (const { error } of refused) {
      reportFailure(io, messageFor(error));
      code = Math.max(code, exitCodeFor(error));
    }
  }
  for (const { socket, resume } of answered) {
    if (resume?.resumed !== false || resume.waiting === undefined) continue;
    const error = new NothingToReattachError(
      `Not resuming the VM on ${JSON.stringify(socket)}: ${
        resume.waiting.map((w) =>
          w.nodes.length === 0
            ? `disk ${JSON.stringify(w.disk)} waits on no NBD node yank can reattach`
            : `disk ${JSON.stringify(w.disk)} still waits on yanked block-node ${
              w.nodes.map((n) => JSON.stringify(n)).join(", ")
            }`
        ).join("; ")
      }`,
      ["reattach those first, or resume it yourself (cont) if the guest can take the I/O error"],
    );
    reportFailure(io, messageFor(error));
    code = Math.max(code, exitCodeFor(error));
  }
  if (answered.length === 0) return code;
  const idle = (a: typeof answered[number]) =>
    a.reattached.length === 0 && a.refused.length === 0 && a.resume?.resumed !== true;
  if (answered.every(idle)) {
    const error = new NothingToReattachError(
      `No yanked NBD node${selectorText(args) === "" ? "" : ` matches ${selectorText(args)}`} on ${
        answered.map((a) => JSON.stringify(a.socket)).join(", ")
      }`,
      ["yank reattach brings back only what was yanked"],
    );
    reportFailure(io, messageFor(error));
    code = Math.max(code, exitCodeFor(error));
  }
  if (args.json) {
    io.stdout(`${renderJson(answered.flatMap((a) => jsonEntries(a, multi, args.dryRun)))}\n`);
    return code;
  }
  const colour = useColour(io, "stdout");
  for (const a of answered) {
    const where = multi ? `${printable(a.socket)}: ` : "";
    for (const done of a.reattached) {
      const server = formatAddress(done.target.node.peer.server);
      const exportName = done.target.node.peer.export;
      const what = `block-node ${printable(done.node)} (${printable(server)}${
        exportName === undefined ? "" : ` export ${printable(JSON.stringify(exportName))}`
      }) under ${printable(done.target.parent.name)}`;
      if (args.dryRun) {
        io.stdout(`${where}would reattach ${what}\n`);
        continue;
      }
      const parentRenamed = done.parentNow === done.target.parent.name
        ? ""
        : ` under ${printable(done.parentNow)}`;
      const renamed = done.nameLost === undefined
        ? ""
        : `, now named ${printable(done.now)}${parentRenamed}: ${printable(done.nameLost)}`;
      io.stdout(
        `${where}${paint("reattached", "green", colour)} ${what} in ${
          Math.round(done.ms)
        } ms${renamed}\n`,
      );
    }
    if (a.resume?.resumed) {
      io.stdout(
        `${where}${args.dryRun ? "would resume" : "resumed"} the VM (paused by an I/O error)\n`,
      );
    }
  }
  return code;
}

function selectorText(args: CliArgs): string {
  return [
    ...args.selectors.blockNode.map((p) => `--block-node ${JSON.stringify(p)}`),
    ...(args.selectors.disk ?? []).map((p) => `--disk ${JSON.stringify(p)}`),
  ].join(" or ");
}

/** The JSON entries of one socket: a `block-node` entry per node, a `vm` entry for a resume. */
function jsonEntries(
  a: ReattachResult & { socket: string },
  multi: boolean,
  dryRun: boolean,
): Record<string, unknown>[] {
  const mark = (entry: Record<string, unknown>) => ({
    ...(multi ? { socket: a.socket } : {}),
    ...entry,
    ...(dryRun ? { "dry-run": true } : {}),
  });
  const entries = a.reattached.map((done) =>
    mark({
      type: "block-node",
      "node-name": done.node,
      now: done.now,
      server: done.target.node.peer.server,
      export: done.target.node.peer.export ?? "",
      parent: done.target.parent.name,
      "parent-now": done.parentNow,
      swap: done.swap,
      disks: done.target.disks,
      "name-kept": done.now === done.node,
      ...(done.nameLost === undefined ? {} : { "name-lost": done.nameLost }),
      milliseconds: Math.round(done.ms),
    })
  );
  if (a.resume?.resumed) entries.push(mark({ type: "vm", resumed: true }));
  return entries;
}
