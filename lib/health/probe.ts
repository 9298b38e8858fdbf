/**
 * `yank check`'s probe of one monitor: connect, greeting, negotiation, then together an in-band
 * `query-status` (does the main loop answer, and how fast?) and `query-yank` (out-of-band when
 * offered), all within one deadline. Every outcome is a HealthReport; the probe itself never throws.
 */

import { QmpClient, type QmpTraceDirection } from "../qmp/client.ts";
import { formatVersion } from "../qmp/greeting.ts";
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpTimeoutError,
} from "../qmp/errors.ts";
import { remedyText, type RemedyWording, YankError } from "../errors.ts";
import { queryYank, YankUnsupportedError } from "../yank/yank.ts";
import { type HealthReason, type HealthReport, healthReport, type HealthState } from "./state.ts";

/** Options of `probeMonitor`. */
export interface ProbeOptions {
  /** The whole probe's budget in milliseconds (`--timeout`). */
  timeoutMs: number;
  /** Absolute time (as `now` counts) past which nothing waits; defaults to now + timeoutMs. */
  deadline?: number;
  /** Wall clock for the deadline; defaults to Date.now. */
  now?: () => number;
  /** Monotonic clock for the latency; defaults to performance.now. */
  monotonic?: () => number;
  /** Called with every QMP message (`--trace`). */
  trace?: (direction: QmpTraceDirection, text: string) => void;
  /** Words the actions of remedies (see lib/errors.ts); without it, those remedies are left out. */
  wording?: RemedyWording;
}

/** Probes one monitor socket; the report says what state it is in and why. */
export async function probeMonitor(socket: string, options: ProbeOptions): Promise<HealthReport> {
  const now = options.now ?? Date.now;
  const monotonic = options.monotonic ?? (() => performance.now());
  const facts: Facts = { latencySeconds: undefined, instances: undefined, qemuVersion: undefined };
  let client: QmpClient;
  try {
    client = await QmpClient.connect(socket, {
      timeoutMs: options.timeoutMs,
      deadline: options.deadline ?? now() + options.timeoutMs,
      now,
      ...(options.trace ? { trace: options.trace } : {}),
    });
  } catch (error) {
    return failureReport(socket, error, facts, undefined, options.wording);
  }
  facts.qemuVersion = formatVersion(client.greeting.version);
  try {
    // Both go out together (one round trip): query-yank runs out-of-band when offered. The
    // status is judged first, since a main loop that does not answer says more than the rest.
    const started = monotonic();
    const status = client.execute("query-status").then(() => {
      facts.latencySeconds = (monotonic() - started) / 1000;
    });
    const instances = queryYank(client);
    instances.catch(() => {}); // Awaited below, once the status has answered.
    await status;
    facts.instances = (await instances).length;
  } catch (error) {
    return failureReport(socket, error, facts, client.oob, options.wording);
  } finally {
    client.close();
  }
  const answered = `main loop answered in ${formatLatency(facts.latencySeconds)}, ${
    countInstances(facts.instances)
  }`;
  if (!client.oob) {
    return report(socket, "WARNING", "no-oob", facts, false, {
      message: `${answered}, but ${
        JSON.stringify(socket)
      } does not offer out-of-band execution (oob), so yank cannot get through a hang`,
      remedy:
        "give QEMU a unix socket monitor (QEMU 4.0 or newer offers oob on it; Proxmox's build does not)",
    });
  }
  return report(socket, "OK", "ok", facts, true, { message: answered, remedy: "" });
}

interface Facts {
  latencySeconds: number | undefined;
  instances: number | undefined;
  qemuVersion: string | undefined;
}

function report(
  socket: string,
  state: HealthState,
  reason: HealthReason,
  facts: Facts,
  oob: boolean | undefined,
  text: { message: string; remedy: string },
): HealthReport {
  return healthReport(socket, { state, reason, ...text, ...facts, oob });
}

/**
 * What `yank check` would report for a monitor it could not probe because of `error` (for
 * `yank watch --textfile`, when a connection fails or ends).
 */
export function reportFailure(
  socket: string,
  error: unknown,
  wording?: RemedyWording,
): HealthReport {
  const facts = { latencySeconds: undefined, instances: undefined, qemuVersion: undefined };
  return failureReport(socket, error, facts, undefined, wording);
}

/** Maps a failure of the conversation to the state table of `yank check --help`. */
function failureReport(
  socket: string,
  error: unknown,
  facts: Facts,
  oob: boolean | undefined,
  wording: RemedyWording | undefined,
): HealthReport {
  const [state, reason] = classify(error);
  const finding = error instanceof Error ? error.message : String(error);
  const text = {
    message: reason === "no-yank"
      ? `main loop answered in ${formatLatency(facts.latencySeconds)}, but ${finding}`
      : finding,
    remedy: error instanceof YankError ? remedyText(error.remedy, wording) : "",
  };
  return report(socket, state, reason, facts, oob, text);
}

function classify(error: unknown): [HealthState, HealthReason] {
  if (error instanceof QmpConnectError) {
    switch (error.failure) {
      case "missing":
        return ["CRITICAL", "no-socket"];
      case "refused":
        return ["CRITICAL", "refused"];
      case "not-socket":
        return ["CRITICAL", "no-socket"];
      case "busy":
        return ["WARNING", "busy"];
      case "denied":
        // The probe, not QEMU, lacks something: Monitoring Plugins call that UNKNOWN.
        return ["UNKNOWN", "denied"];
      case "other":
        return ["CRITICAL", "unreachable"];
    }
  }
  if (error instanceof QmpTimeoutError) {
    switch (error.phase) {
      case "connect":
        return ["CRITICAL", "unreachable"];
      case "greeting":
        return ["WARNING", "busy"];
      case "negotiation":
        return ["CRITICAL", "hung"];
      case "command":
        // In-band: the main loop. Out-of-band: even the monitor I/O thread. Both are hangs.
        return ["CRITICAL", "hung"];
    }
  }
  if (error instanceof YankUnsupportedError) return ["WARNING", "no-yank"];
  if (error instanceof QmpDisconnectedError) return ["CRITICAL", "lost"];
  if (error instanceof QmpProtocolError) return ["CRITICAL", "not-qmp"];
  if (error instanceof QmpCommandError || error instanceof YankError) return ["CRITICAL", "error"];
  return ["UNKNOWN", "error"];
}

/** "0.8 ms", "12.3 ms", "1.25 s". */
export function formatLatency(seconds: number | undefined): string {
  if (seconds === undefined) return "(no answer)";
  if (seconds < 1) return `${Number((seconds * 1000).toFixed(1))} ms`;
  return `${Number(seconds.toFixed(2))} s`;
}

function countInstances(count: number | undefined): string {
  return count === 1 ? "1 yank instance" : `${count ?? 0} yank instances`;
}
