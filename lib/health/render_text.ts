/**
 * The Monitoring Plugins status line: `YANK STATE - finding | perfdata`, and for several sockets
 * a summary line first (Nagios shows the first line) and then one line per socket.
 */

import { printable } from "../render/printable.ts";
import { type HealthReport, roundLatency, STATES_WORST_FIRST, worstState } from "./state.ts";

/**
 * Renders the reports of one run as status lines, each ending in a newline. With no report at
 * all, the globs in `unmatched` matched no socket: OK, and the line says so.
 */
export function renderHealthText(
  reports: readonly HealthReport[],
  multi: boolean,
  unmatched: readonly string[] = [],
): string {
  if (reports.length === 0) {
    const perf = STATES_WORST_FIRST.map((state) => `${state.toLowerCase()}=0`).join(" ");
    const patterns = unmatched.map((p) => JSON.stringify(p)).join(", ");
    return `YANK OK - no monitor socket matches ${statusText(patterns)} | ${perf}\n`;
  }
  if (!multi && reports.length === 1) {
    const report = reports[0]!;
    return `YANK ${report.state} - ${statusText(report.message)} | ${perfdata(report)}\n`;
  }
  const worst = worstState(reports.map((r) => r.state));
  const counts = countStates(reports);
  const summary = STATES_WORST_FIRST.map((state) => `${counts[state]} ${state}`).join(", ");
  const perf = STATES_WORST_FIRST.map((state) => `${state.toLowerCase()}=${counts[state]}`)
    .join(" ");
  const noun = reports.length === 1 ? "socket" : "sockets";
  const lines = [`YANK ${worst} - ${reports.length} ${noun}: ${summary} | ${perf}`];
  for (const report of reports) {
    lines.push(
      `${report.state} ${statusText(JSON.stringify(report.socket))}: ${statusText(report.message)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** How many reports are in each state. */
export function countStates(reports: readonly HealthReport[]): Record<string, number> {
  const counts: Record<string, number> = { CRITICAL: 0, WARNING: 0, UNKNOWN: 0, OK: 0 };
  for (const report of reports) counts[report.state]!++;
  return counts;
}

/** Monitoring Plugins perfdata; "U" marks a value that could not be measured. */
function perfdata(report: HealthReport): string {
  const latency = report.latencySeconds === undefined
    ? "U"
    : `${roundLatency(report.latencySeconds)}s`;
  return `latency=${latency} instances=${report.instances ?? "U"}`;
}

/** A "|" would start the perfdata early and a control character could rewrite a terminal. */
function statusText(text: string): string {
  return printable(text).replaceAll("|", "/");
}
