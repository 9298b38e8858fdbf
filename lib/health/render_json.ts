/**
 * `yank check --format json`: the same facts as the status line, as one JSON object.
 */

import { type HealthReport, roundLatency, STATE_EXIT_CODES, worstState } from "./state.ts";
import { countStates } from "./render_text.ts";
import { renderJson } from "../render/json.ts";

/** One report as a JSON-ready object with snake_case keys; unknown values are null. */
export function healthJson(report: HealthReport): Record<string, unknown> {
  return {
    state: report.state,
    exit_code: STATE_EXIT_CODES[report.state],
    socket: report.socket,
    reason: report.reason,
    message: report.message,
    remedy: report.remedy,
    latency_seconds: report.latencySeconds === undefined
      ? null
      : roundLatency(report.latencySeconds),
    instances: report.instances ?? null,
    qemu_version: report.qemuVersion ?? null,
    oob: report.oob ?? null,
  };
}

/**
 * Renders one JSON object and a newline: the report itself for one socket; for several, the
 * worst state, counts per state and the reports under "sockets".
 */
export function renderHealthJson(reports: readonly HealthReport[], multi: boolean): string {
  if (!multi && reports.length === 1) return `${renderJson(healthJson(reports[0]!))}\n`;
  const state = worstState(reports.map((r) => r.state));
  return `${
    renderJson({
      state,
      exit_code: STATE_EXIT_CODES[state],
      counts: countStates(reports),
      sockets: reports.map(healthJson),
    })
  }\n`;
}
