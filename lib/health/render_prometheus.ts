/**
 * `yank check --format prometheus`: the Prometheus text exposition format that node_exporter's
 * textfile collector reads, one family per fact, one sample per socket.
 */

import { type HealthReport, roundLatency, STATE_EXIT_CODES } from "./state.ts";

interface Family {
  name: string;
  help: string;
  value: (report: HealthReport) => number | undefined;
}

const FAMILIES: readonly Family[] = [
  {
    name: "yank_up",
    help: "Whether QEMU's main loop answered the in-band probe (1) or not (0).",
    value: (r) => r.latencySeconds === undefined ? 0 : 1,
  },
  {
    name: "yank_state",
    help: "Monitoring Plugins state of the monitor: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    value: (r) => STATE_EXIT_CODES[r.state],
  },
  {
    name: "yank_main_loop_latency_seconds",
    help: "How long QEMU's main loop took to answer query-status.",
    value: (r) => r.latencySeconds === undefined ? undefined : roundLatency(r.latencySeconds),
  },
  {
    name: "yank_instances",
    help: "How many yank instances query-yank lists.",
    value: (r) => r.instances,
  },
  {
    name: "yank_oob",
    help: "Whether the monitor negotiated out-of-band execution, which yank needs during a hang.",
    value: (r) => r.oob === undefined ? undefined : Number(r.oob),
  },
];

/** Options of `renderHealthPrometheus`. */
export interface PrometheusOptions {
  /**
   * For `yank watch --textfile`: whether the watchdog is still watching (all reports, or each
   * one). Adds the yank_watch_running gauge; `check` leaves it out.
   */
  watching?: boolean | ((report: HealthReport) => boolean);
}

/** Renders every report as gauges labelled by socket; unmeasured values are left out. */
export function renderHealthPrometheus(
  reports: readonly HealthReport[],
  options: PrometheusOptions = {},
): string {
  const families = [...FAMILIES];
  const watching = options.watching;
  if (watching !== undefined) {
    families.push({
      name: "yank_watch_running",
      help:
        "Whether yank watch is watching the monitor (1) or has stopped (0); when 0, the other values are not measurements.",
      value: (r) => Number(typeof watching === "boolean" ? watching : watching(r)),
    });
  }
  const lines: string[] = [];
  for (const family of families) {
    const samples: PrometheusSample[] = [];
    for (const report of reports) {
      const value = family.value(report);
      if (value !== undefined) samples.push({ labels: { socket: report.socket }, value });
    }
    lines.push(...renderFamily(family.name, "gauge", family.help, samples));
  }
  return `${lines.join("\n")}\n`;
}

/** One sample of a metric family: its labels (in the order written) and its value. */
export interface PrometheusSample {
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** A family in the text exposition format: HELP, TYPE, then one line per sample. */
export function renderFamily(
  name: string,
  type: "gauge" | "counter",
  help: string,
  samples: readonly PrometheusSample[],
): string[] {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const { labels, value } of samples) {
    const pairs = Object.entries(labels).map(([key, v]) => `${key}="${escapeLabelValue(v)}"`);
    lines.push(`${name}{${pairs.join(",")}} ${value}`);
  }
  return lines;
}

/** Escapes a label value as the exposition format demands: backslash, quote, newline. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}
