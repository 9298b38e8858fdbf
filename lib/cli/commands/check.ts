/**
 * `yank check`: a one-shot health probe for cron, Nagios, Icinga and Prometheus. The state of
 * each socket is data (stdout and the exit code), not an error; only usage errors and an
 * unwritable --textfile reach stderr.
 */

import type { CliArgs } from "../args.ts";
import type { CliIo } from "../io.ts";
import { traceTo } from "../monitor.ts";
import { globUnreadable, planSockets } from "../../sockets/plan.ts";
import { SocketNotTriedError, visitWithinDeadline } from "../../sockets/visit.ts";
import { probeMonitor } from "../../health/probe.ts";
import {
  type HealthReason,
  type HealthReport,
  healthReport,
  STATE_EXIT_CODES,
  worstState,
} from "../../health/state.ts";
import { remedyText, YankError } from "../../errors.ts";
import {
  DomainNotFoundError,
  LibvirtAccessError,
  NoYankMonitorError,
} from "../../libvirt/domains.ts";
import { wordRemedyAction } from "../remedies.ts";
import { renderHealthText } from "../../health/render_text.ts";
import { renderHealthJson } from "../../health/render_json.ts";
import { renderHealthPrometheus } from "../../health/render_prometheus.ts";
import { writeTextfileAtomically } from "../../health/textfile.ts";

/** Runs `yank check`; returns a Monitoring Plugins exit code (0 OK ... 3 UNKNOWN). */
export async function checkCommand(
  args: CliArgs,
  io: CliIo,
  domainFailures: readonly Error[] = [],
): Promise<number> {
  const deadline = io.now() + args.timeoutMs;
  const plan = planSockets(args.sockets);
  const settled = await visitWithinDeadline(
    plan.sockets,
    { deadline, timeoutMs: args.timeoutMs, now: io.now },
    (socket) =>
      probeMonitor(socket, {
        timeoutMs: args.timeoutMs,
        deadline,
        now: io.now,
        wording: wordRemedyAction,
        ...(args.trace ? { trace: traceTo(io, socket) } : {}),
      }),
  );
  const reports: HealthReport[] = settled.map((result, index) => {
    if (result.status === "fulfilled") return result.value;
    // probeMonitor turns every failure into a report; only a socket never tried gets here.
    if (result.reason instanceof SocketNotTriedError) {
      return unknownReport(plan.sockets[index]!, "not-tried", result.reason);
    }
    throw result.reason;
  });
  // A glob that matches nothing is a host with none of those VMs running: nothing can hang
  // there, so it adds no report (and no series labelled with the glob itself).
  // The probe, not QEMU, lacks something: Monitoring Plugins call that UNKNOWN.
  for (const { pattern, directory } of plan.unreadable) {
    reports.push(unknownReport(pattern, "denied", globUnreadable(pattern, directory)));
  }

  // A --domain that names no usable VM: the probe cannot judge it, so UNKNOWN.
  for (const failure of domainFailures) reports.push(domainReport(failure));
  const multi = plan.multi || args.manyDomains || reports.length > 1;

  const state = worstState(reports.map((report) => report.state));
  if (args.textfile !== undefined) {
    await writeTextfileAtomically(args.textfile, renderHealthPrometheus(reports));
    return STATE_EXIT_CODES[state];
  }
  switch (args.format) {
    case "text":
      io.stdout(renderHealthText(reports, multi, plan.unmatched));
      break;
    case "json":
      io.stdout(renderHealthJson(reports, multi));
      break;
    case "prometheus":
      io.stdout(renderHealthPrometheus(reports));
      break;
  }
  return STATE_EXIT_CODES[state];
}

/** The report of a domain that cannot be used, under its name (or libvirt's file). */
function domainReport(failure: Error): HealthReport {
  const label = failure instanceof DomainNotFoundError
    ? failure.pattern
    : failure instanceof NoYankMonitorError
    ? failure.domain
    : failure instanceof LibvirtAccessError
    ? failure.path
    : "libvirt";
  const reason = failure instanceof LibvirtAccessError ? "denied" : "no-socket";
  return unknownReport(label, reason, failure);
}

function unknownReport(
  socket: string,
  reason: HealthReason,
  error: YankError | Error,
): HealthReport {
  return healthReport(socket, {
    state: "UNKNOWN",
    reason,
    message: error.message,
    remedy: error instanceof YankError ? remedyText(error.remedy, wordRemedyAction) : "",
  });
}
