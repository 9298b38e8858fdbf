/**
 * Health states of a QMP monitor, as the Monitoring Plugins (Nagios, Icinga) define them, and
 * which one wins when several sockets are checked at once.
 */

/** A Monitoring Plugins state. */
export type HealthState = "OK" | "WARNING" | "CRITICAL" | "UNKNOWN";

/** Why a monitor is in its state; stable, for JSON output and scripts. */
export type HealthReason =
  | "ok"
  | "no-socket"
  | "refused"
  | "denied"
  | "unreachable"
  | "not-qmp"
  | "hung"
  | "lost"
  | "busy"
  | "no-oob"
  | "no-yank"
  | "not-tried"
  | "error";

/** The exit code of each state (Monitoring Plugins' contract). */
export const STATE_EXIT_CODES: Readonly<Record<HealthState, number>> = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
};

/**
 * Severity for "the worst state wins", as Monitoring Plugins' `max_state_alt()`:
 * OK < UNKNOWN < WARNING < CRITICAL. A socket we could not judge must not hide one we know is
 * in trouble, but must not pass for healthy either.
 */
const SEVERITY: Readonly<Record<HealthState, number>> = {
  OK: 0,
  UNKNOWN: 1,
  WARNING: 2,
  CRITICAL: 3,
};

/** The worst of some states (OK when there are none). */
export function worstState(states: Iterable<HealthState>): HealthState {
  let worst: HealthState = "OK";
  for (const state of states) if (SEVERITY[state] > SEVERITY[worst]) worst = state;
  return worst;
}

/** The states, worst first: the order of summaries. */
export const STATES_WORST_FIRST: readonly HealthState[] = ["CRITICAL", "WARNING", "UNKNOWN", "OK"];

/** What one probe of one monitor found. */
export interface HealthReport {
  socket: string;
  state: HealthState;
  reason: HealthReason;
  /** One sentence saying what was found, without the remedy. */
  message: string;
  /** What to do about it; "" when nothing is wrong. */
  remedy: string;
  /** How long the main loop took to answer the in-band probe; undefined if it did not. */
  latencySeconds: number | undefined;
  /** How many yank instances `query-yank` listed; undefined if it was not answered. */
  instances: number | undefined;
  /** QEMU's version from the greeting ("7.2.22"); undefined before a greeting. */
  qemuVersion: string | undefined;
  /** Whether out-of-band execution was negotiated; undefined before negotiation. */
  oob: boolean | undefined;
}

/**
 * A latency in seconds, rounded to the microsecond for every output: a difference of two
 * performance.now() readings carries float noise (0.00041578699999999814).
 */
export function roundLatency(seconds: number): number {
  return Number(seconds.toFixed(6));
}

/**
 * A report of `socket`: what `fields` say, and for the rest UNKNOWN, not tried, nothing
 * measured. Every report is built here, so that a field added to HealthReport has one default.
 */
export function healthReport(
  socket: string,
  fields: Partial<Omit<HealthReport, "socket">> = {},
): HealthReport {
  return {
    socket,
    state: "UNKNOWN",
    reason: "not-tried",
    message: "",
    remedy: "",
    latencySeconds: undefined,
    instances: undefined,
    qemuVersion: undefined,
    oob: undefined,
    ...fields,
  };
}
