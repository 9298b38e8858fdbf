/**
 * The watchdog's log: one logfmt line per state change or action, on stderr, so that journald,
 * syslog and log shippers can read it as key=value pairs.
 */

import { renderJson } from "../render/json.ts";

/** The states and actions a watchdog logs, in the order `yank watch --help` lists them. */
export const WATCH_STATES = [
  "connecting",
  "connected",
  "busy",
  "hung",
  "yanking",
  "would-yank",
  "recovered",
  "still-hung",
  "judged",
  "stalled",
  "disconnected",
  "warning",
  "proxy-yank",
  "reattached",
  "reattach-waiting",
  "reattach-refused",
  "resumed",
  "found",
  "gone",
  "unwatchable",
  "restarting",
  "stopped",
] as const;

/** A state or action the watchdog logs. */
export type WatchState = typeof WATCH_STATES[number];

/** One log entry. */
export interface WatchLogEntry {
  /** Milliseconds since the epoch. */
  time: number;
  socket: string;
  state: WatchState;
  /** How many yank instances the last query-yank listed; undefined when unknown. */
  instances: number | undefined;
  message: string;
}

/**
 * `time=ISO socket=PATH state=STATE instances=N msg="..."`; a value with spaces, quotes, `=` or
 * control characters is quoted with JSON escapes, so that one entry is always one line.
 */
export function formatLogLine(entry: WatchLogEntry): string {
  const fields: [string, string][] = [
    ["time", new Date(entry.time).toISOString()],
    ["socket", entry.socket],
    ["state", entry.state],
    ["instances", entry.instances === undefined ? "-" : String(entry.instances)],
    ["msg", entry.message],
  ];
  return fields.map(([key, value]) => `${key}=${logfmtValue(value)}`).join(" ");
}

function logfmtValue(value: string): string {
  // A value with controls or bidirectional overrides is quoted and escaped like JSON output,
  // so a socket path or a peer's text cannot drive the terminal that shows the log.
  // deno-lint-ignore no-control-regex -- control characters must be escaped, not printed.
  return value === "" || /[\s"=\\\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u.test(value)
    ? renderJson(value)
    : value;
}

/** Options of a VmLog. */
export interface VmLogOptions {
  socket: string;
  /** Receives each line (without a newline). */
  write: (line: string) => void;
  /** Wall clock in milliseconds, for the timestamps. */
  now: () => number;
  /** How many yank instances the last query-yank listed, for each line. */
  instances: () => number | undefined;
}

/**
 * The log of one VM's watchdog: a line is written unless it repeats the previous state and
 * message (a yank always is: each one is an action).
 */
export class VmLog {
  #options: VmLogOptions;
  #last = "";

  constructor(options: VmLogOptions) {
    this.#options = options;
  }

  /** Logs `message` in `state`, once while it repeats. */
  line(state: WatchState, message: string): void {
    const key = `${state} ${message}`;
    if (key === this.#last && state !== "yanking" && state !== "proxy-yank") return;
    this.#last = key;
    const { socket, now, instances } = this.#options;
    this.#options.write(
      formatLogLine({ time: now(), socket, state, instances: instances(), message }),
    );
  }
}
