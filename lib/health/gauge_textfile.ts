/**
 * The textfile of `yank watch`: one file for every watched monitor, written atomically and
 * coalesced, so that a host of many VMs costs one write per gap, not one per probe.
 */

import type { HealthReport } from "./state.ts";
import { renderHealthPrometheus } from "./render_prometheus.ts";
import { TextfileError, writeTextfileAtomically } from "./textfile.ts";

/** Options of a GaugeTextfile. */
export interface GaugeTextfileOptions {
  /** Least time between two writes, in milliseconds: many VMs' reports share one write. */
  minGapMs: number;
  /** Told when a write fails; the next report tries again. */
  onError: (error: TextfileError) => void;
  /** More metric families to append (watch --reattach's counter), rendered at each write. */
  extra?: () => string;
}

/**
 * The textfile of `yank watch`: the latest report of every watched monitor, each labelled with
 * its socket, in one file. Reports arrive one VM at a time; writes are coalesced so that a host
 * of many VMs costs at most one write per `minGapMs`, and one slow write never delays a probe.
 */
export class GaugeTextfile {
  #entries = new Map<string, { report: HealthReport; watching: boolean }>();
  #writing: Promise<void> | undefined;
  #dirty = false;

  constructor(readonly path: string, readonly options: GaugeTextfileOptions) {}

  /** Sets a monitor's latest report; written within `minGapMs` (or after the write in progress). */
  set(report: HealthReport, watching: boolean): void {
    this.#entries.set(report.socket, { report, watching });
    this.#schedule();
  }

  /** Writes the file again (within `minGapMs`), e.g. after `extra` changed. */
  refresh(): void {
    this.#schedule();
  }

  /** Removes a monitor from the file. */
  delete(socket: string): void {
    if (this.#entries.delete(socket)) this.#schedule();
  }

  /** Resolves once the file holds every report set so far. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#dirty) {
      this.#dirty = false;
      await this.#write();
    }
  }

  #schedule(): void {
    this.#dirty = true;
    if (this.#writing !== undefined) return;
    this.#writing = (async () => {
      try {
        while (this.#dirty) {
          this.#dirty = false;
          await this.#write();
          await new Promise((resolve) => setTimeout(resolve, this.options.minGapMs));
        }
      } finally {
        this.#writing = undefined;
      }
    })();
  }

  async #write(): Promise<void> {
    const entries = [...this.#entries.values()].sort((a, b) =>
      a.report.socket < b.report.socket ? -1 : a.report.socket > b.report.socket ? 1 : 0
    );
    const watching = new Map(entries.map((e) => [e.report, e.watching]));
    const text = renderHealthPrometheus(entries.map((e) => e.report), {
      watching: (report) => watching.get(report) ?? false,
    }) + (this.options.extra?.() ?? "");
    try {
      await writeTextfileAtomically(this.path, text);
    } catch (error) {
      if (error instanceof TextfileError) this.options.onError(error);
      else throw error;
    }
  }
}
