/**
 * What the watchdog of one VM tells `--textfile`: after each probe, when a hang starts, when a
 * connection fails or ends, when the watchdog starts again and once when it stops; each report
 * what `yank check` would say at that moment.
 */

import { formatVersion } from "../qmp/greeting.ts";
import { formatSeconds } from "../qmp/errors.ts";
import { describeFailure, type RemedyWording } from "../errors.ts";
import { type HealthReport, healthReport } from "../health/state.ts";
import { reportFailure } from "../health/probe.ts";
import type { KnownVm } from "./known_vm.ts";

/** Receives a report, and whether a watchdog still watches the monitor. */
export type OnReport = (report: HealthReport, watching: boolean) => Promise<void> | void;

/** Options of WatchReports. */
export interface WatchReportsOptions {
  /** Receives the reports; undefined: nothing is reported. */
  onReport: OnReport | undefined;
  /** --hang-after in milliseconds, for a hang's message. */
  hangAfterMs: number;
  /** Words the actions of remedies (see lib/errors.ts). */
  wording: RemedyWording | undefined;
  /** Logs a report that could not be delivered (as a warning). */
  warn: (message: string) => void;
}

/** The health reports of one VM's watchdog. */
export class WatchReports {
  #vm: KnownVm;
  #options: WatchReportsOptions;

  constructor(vm: KnownVm, options: WatchReportsOptions) {
    this.#vm = vm;
    this.#options = options;
  }

  /** A probe was answered (OK, with its latency) or went unanswered for --hang-after. */
  async probed(state: "OK" | "CRITICAL", latencySeconds: number | undefined): Promise<void> {
    const message = state === "OK"
      ? "main loop answers"
      : `QEMU's main loop is hung: it did not answer query-status within ${
        formatSeconds(this.#options.hangAfterMs)
      }`;
    await this.#deliver(() =>
      healthReport(this.#vm.socket, {
        state,
        reason: state === "OK" ? "ok" : "hung",
        message,
        latencySeconds,
        instances: this.#vm.instances,
        qemuVersion: this.#qemuVersion(),
        oob: true,
      }), true);
  }

  /** QEMU cannot be watched right now, as `yank check` would word why. */
  async failed(error: unknown): Promise<void> {
    await this.#deliver(() => reportFailure(this.#vm.socket, error, this.#options.wording), true);
  }

  /** The watchdog failed unexpectedly and starts again: nobody watches meanwhile. */
  async restarting(message: string): Promise<void> {
    await this.#deliver(() =>
      healthReport(this.#vm.socket, {
        state: "WARNING",
        reason: "error",
        message,
        qemuVersion: this.#qemuVersion(),
      }), true);
  }

  /** The watchdog stopped: a report of the last probe must not outlive it. */
  async stopped(): Promise<void> {
    await this.#deliver(() =>
      healthReport(this.#vm.socket, {
        message: "yank watch stopped; nothing watches this monitor",
        qemuVersion: this.#qemuVersion(),
      }), false);
  }

  #qemuVersion(): string | undefined {
    return this.#vm.version ? formatVersion(this.#vm.version) : undefined;
  }

  async #deliver(report: () => HealthReport, watching: boolean): Promise<void> {
    if (this.#options.onReport === undefined) return;
    try {
      await this.#options.onReport(report(), watching);
    } catch (error) {
      this.#options.warn(describeFailure(error, this.#options.wording));
    }
  }
}
