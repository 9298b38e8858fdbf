/**
 * The watchdog of one VM: one long-lived connection to a dedicated monitor, negotiated with
 * out-of-band execution while QEMU is healthy, so that it can still run `query-yank` and `yank`
 * when the main loop hangs (a new connection could not: see docs/qmp.md). This module is the
 * owner of its parts: what is known about the VM (known_vm.ts), the connection and its backoff
 * (connection.ts), the probe loop (probe_loop.ts), the health reports (watch_reports.ts) and the
 * proxy's upstream (proxy_upstream.ts); and it starts them again after a failure nobody foresaw.
 */

import { QmpClient, type QmpTraceDirection } from "../qmp/client.ts";
import { formatSeconds } from "../qmp/errors.ts";
import { describeFailure, type RemedyWording } from "../errors.ts";
import { UnwatchableError } from "./errors.ts";
import { YankUnsupportedError } from "../yank/yank.ts";
import { type RunSs, runSs } from "../liveness/sample.ts";
import { KnownVm, type VmRequest } from "./known_vm.ts";
import { Connection, type ConnectQmp } from "./connection.ts";
import { ProbeLoop, type ProbeSettings } from "./probe_loop.ts";
import { type OnReport, WatchReports } from "./watch_reports.ts";
import { WatchUpstream } from "./proxy_upstream.ts";
import { VmLog, type WatchState } from "./log.ts";
import { RESTART_MAX_MS, RESTART_START_MS, sleep } from "./timing.ts";

/** What a watchdog talks to unless its options hand in another: the one place of the defaults. */
export const WATCHDOG_DEFAULTS: { connect: ConnectQmp; runSs: RunSs } = {
  connect: (socket, options) => QmpClient.connect(socket, options),
  runSs,
};

/**
 * Options of a Watchdog: the VM and what to yank (VmRequest), how to probe and recover
 * (ProbeSettings), and where it logs and reports.
 */
export interface WatchdogOptions extends VmRequest, ProbeSettings {
  /** Receives each log line (without a newline). */
  log: (line: string) => void;
  /** Wall clock in milliseconds: for log timestamps only. */
  now: () => number;
  /**
   * Monotonic clock in milliseconds (performance.now by default): every interval, deadline and
   * backoff, so that a wall clock stepped back or forth never pauses or hurries probing.
   */
  monotonic?: (() => number) | undefined;
  /** Ends the watchdog. */
  signal?: AbortSignal | undefined;
  /** Called with every QMP message (`--trace`). */
  trace?: ((direction: QmpTraceDirection, text: string) => void) | undefined;
  /**
   * Called with what `yank check` would report: after each probe, when a hang starts, when the
   * connection ends or cannot be made (`watching` true), and once when the watchdog stops
   * (`watching` false, state UNKNOWN, nothing measured).
   */
  onReport?: OnReport | undefined;
  /**
   * Connects to the monitor, reads the greeting and negotiates: QmpClient.connect by default.
   * A seam for tests, which hand in a client of their own.
   */
  connect?: ConnectQmp | undefined;
  /** Runs `ss` to find QEMU's process and judge its peers: runSs by default. A seam for tests. */
  runSs?: RunSs | undefined;
}

/** The watchdog of one monitor. `run()` it; it ends when the signal aborts. */
export class Watchdog {
  #signal: AbortSignal;
  #vm: KnownVm;
  #log: VmLog;
  #reports: WatchReports;
  #connection: Connection;
  #probes: ProbeLoop;
  #wording: RemedyWording | undefined;
  /** The yank-only proxy's way to QEMU through this watchdog's connection. */
  readonly upstream: WatchUpstream;

  constructor(options: WatchdogOptions) {
    const signal = options.signal ?? new AbortController().signal;
    const monotonic = options.monotonic ?? (() => performance.now());
    const { timeoutMs, wording } = options;
    const vm = new KnownVm(options);
    const log = new VmLog({
      socket: options.socket,
      write: options.log,
      now: options.now,
      instances: () => vm.instances,
    });
    const logLine = (state: WatchState, message: string) => log.line(state, message);
    const reports = new WatchReports(vm, {
      onReport: options.onReport,
      hangAfterMs: options.hangAfterMs,
      wording,
      warn: (message) => logLine("warning", message),
    });
    this.#signal = signal;
    this.#vm = vm;
    this.#log = log;
    this.#reports = reports;
    this.#connection = new Connection(vm, {
      connect: options.connect ?? WATCHDOG_DEFAULTS.connect,
      runSs: options.runSs ?? WATCHDOG_DEFAULTS.runSs,
      timeoutMs,
      monotonic,
      signal,
      trace: options.trace,
      wording,
      log: logLine,
      reports,
    });
    this.#probes = new ProbeLoop(vm, { ...options, monotonic, signal, log: logLine, reports });
    this.upstream = new WatchUpstream(vm, {
      client: () => this.#connection.client,
      timeoutMs,
      log: logLine,
      onYanked: (instances, reason) => this.#probes.countYanked(instances, reason),
    });
    this.#wording = wording;
  }

  /** The monitor socket watched. */
  get socket(): string {
    return this.#vm.socket;
  }

  /**
   * Watches until the signal aborts. Throws an UnwatchableError or YankUnsupportedError when
   * this monitor can never be used to yank (a configuration error); every other failure means
   * reconnecting, after a delay that doubles from 0.1 s to 5 s and starts again only once a
   * probe was answered. A failure nobody foresaw is logged once (state restarting) and the
   * watchdog starts again after a delay that doubles from 1 s to 60 s, so the VM stays watched.
   */
  async run(): Promise<void> {
    let restartDelay = RESTART_START_MS;
    try {
      while (!this.#signal.aborted) {
        try {
          await this.#connection.loop(
            (client) => this.#probes.watch(client),
            () => this.#probes.closed(),
          );
          break;
        } catch (error) {
          if (error instanceof UnwatchableError || error instanceof YankUnsupportedError) {
            throw error;
          }
          if (this.#signal.aborted) break;
          if (this.#probes.restarted()) restartDelay = RESTART_START_MS;
          const message = `yank watch's watchdog failed unexpectedly: ${
            describeFailure(error, this.#wording)
          }; restarting it in ${formatSeconds(restartDelay)} (please report this as a bug in yank)`;
          this.#log.line("restarting", message);
          await this.#reports.restarting(message);
          if (!await sleep(restartDelay, this.#signal)) break;
          restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
        }
      }
    } finally {
      // A report of the last probe must not outlive the watchdog: say nobody watches now.
      await this.#reports.stopped();
    }
    this.#log.line("stopped", "stopped on a signal");
  }
}
